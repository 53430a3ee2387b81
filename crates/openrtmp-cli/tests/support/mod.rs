//! The shared end-to-end test kit (external tools, fixtures, nginx-rtmp, frame comparison).
#![allow(unused_imports)]

pub use openrtmp_testkit::*;
