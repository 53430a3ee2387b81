//! Who may connect, publish and play (being written).
mod settings;
pub use settings::*;
