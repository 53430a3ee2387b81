//! The reading side of a VOD player: a thread of its own that opens the recording, seeks,
//! and hands messages to the connection's task through a small bounded channel (it blocks
//! while the channel is full: at most [`CHANNEL`] messages are read ahead). A seek is a
//! [`Seek`] on the control channel with a new generation; the player drops what is left of
//! older generations. The thread ends (and the file is closed) when the player is dropped.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use openrtmp_record::{Format, Message, VodSource};
use tokio::sync::mpsc;

/// Messages read ahead of the player.
pub(super) const CHANNEL: usize = 64;

/// What the reader hands the player, tagged with the generation (seek) it belongs to.
#[derive(Debug)]
pub(super) enum Item {
    /// The source is positioned at `position_ms` (a keyframe): its headers come first.
    Start { generation: u64, position_ms: u64, duration_ms: u64, headers: Vec<Message> },
    /// The next media message.
    Media { generation: u64, message: Message },
    /// The end of the recording (or of what is complete).
    End { generation: u64 },
    /// The file could not be opened or read.
    Failed { generation: u64, error: String },
}

impl Item {
    pub(super) fn generation(&self) -> u64 {
        match self {
            Item::Start { generation, .. }
            | Item::Media { generation, .. }
            | Item::End { generation }
            | Item::Failed { generation, .. } => *generation,
        }
    }
}

/// Reposition to `ms`; what follows belongs to `generation`.
#[derive(Debug)]
pub(super) struct Seek {
    pub(super) generation: u64,
    pub(super) ms: u64,
}

/// Starts the reader of `path` at `start_ms`.
pub(super) fn spawn(
    parts: Vec<(PathBuf, Format)>,
    start_ms: u64,
) -> std::io::Result<(mpsc::Receiver<Item>, std_mpsc::Sender<Seek>)> {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let (control, seeks) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("openrtmp-vod".into())
        .spawn(move || run(parts, Seek { generation: 0, ms: start_ms }, &tx, &seeks))?;
    Ok((rx, control))
}

fn run(
    parts: Vec<(PathBuf, Format)>,
    first: Seek,
    tx: &mpsc::Sender<Item>,
    seeks: &std_mpsc::Receiver<Seek>,
) {
    let mut source = match openrtmp_record::vod::open_parts(&parts) {
        Ok(source) => source,
        Err(e) => {
            let _ = tx.blocking_send(Item::Failed { generation: 0, error: e.to_string() });
            return;
        }
    };
    let mut seek = first;
    loop {
        match play(source.as_mut(), &seek, tx, seeks) {
            Some(next) => seek = next,
            None => return,
        }
    }
}

/// Plays from `seek` until the player asks for another position (returned) or is gone
/// (`None`).
fn play(
    source: &mut dyn VodSource,
    seek: &Seek,
    tx: &mpsc::Sender<Item>,
    seeks: &std_mpsc::Receiver<Seek>,
) -> Option<Seek> {
    let generation = seek.generation;
    let last = match source.seek(seek.ms) {
        Ok(position_ms) => {
            let duration_ms = source.duration_ms();
            let headers = source.headers();
            tx.blocking_send(Item::Start { generation, position_ms, duration_ms, headers }).ok()?;
            loop {
                match seeks.try_recv() {
                    Ok(next) => return Some(next),
                    Err(std_mpsc::TryRecvError::Disconnected) => return None,
                    Err(std_mpsc::TryRecvError::Empty) => {}
                }
                match source.next_message() {
                    Ok(Some(message)) => {
                        tx.blocking_send(Item::Media { generation, message }).ok()?
                    }
                    Ok(None) => break Item::End { generation },
                    Err(e) => break Item::Failed { generation, error: e.to_string() },
                }
            }
        }
        Err(e) => Item::Failed { generation, error: e.to_string() },
    };
    tx.blocking_send(last).ok()?;
    // At the end: wait for a seek (or for the player to go).
    seeks.recv().ok()
}
