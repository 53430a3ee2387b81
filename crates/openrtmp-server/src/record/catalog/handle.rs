//! The catalog as [`ServerHandle`] offers it to the API and embedders: each call runs on a
//! blocking thread (`spawn_blocking`), so a slow disk never stalls the async workers.

use crate::handle::ServerHandle;

use super::{
    recording_dirs, CatalogError, DeleteReason, Recording, RecordingFilter, RecordingList,
};

impl ServerHandle {
    /// The recordings under every recording directory of the configuration (`record.dir`
    /// and each rule's `dir`) that pass `filter`, newest first. Durations are read from
    /// the files once and cached by (path, size, modification time); a segment being
    /// written carries the recorder's figures and `recording: true`.
    pub async fn recordings(&self, filter: RecordingFilter) -> RecordingList {
        let shared = self.shared.clone();
        let dirs = recording_dirs(&shared.config().record);
        let work = move || shared.catalog.list(&dirs, &shared.open_segments, &filter);
        tokio::task::spawn_blocking(work).await.unwrap_or_default()
    }

    /// The segment `{app}/{stream}/{file}` (names as in its path: [`CatalogError::BadName`]
    /// for anything else, before a path is made of them), for a download.
    pub async fn recording_file(
        &self,
        app: &str,
        stream: &str,
        file: &str,
    ) -> Result<Recording, CatalogError> {
        let shared = self.shared.clone();
        let dirs = recording_dirs(&shared.config().record);
        let (app, stream, file) = (app.to_owned(), stream.to_owned(), file.to_owned());
        let work = move || shared.catalog.find(&dirs, &shared.open_segments, &app, &stream, &file);
        join(tokio::task::spawn_blocking(work).await)
    }

    /// Deletes the finished segment `{app}/{stream}/{file}` ([`CatalogError::Busy`] while
    /// it is being written), and its stream and app directories if that empties them.
    pub async fn delete_recording(
        &self,
        app: &str,
        stream: &str,
        file: &str,
    ) -> Result<(), CatalogError> {
        let shared = self.shared.clone();
        let dirs = recording_dirs(&shared.config().record);
        let (app, stream, file) = (app.to_owned(), stream.to_owned(), file.to_owned());
        let work = move || {
            let found = shared.catalog.find(&dirs, &shared.open_segments, &app, &stream, &file)?;
            if found.recording {
                return Err(CatalogError::Busy { file });
            }
            shared.catalog.delete(&shared.open_segments, &found.path, DeleteReason::Api)
        };
        join(tokio::task::spawn_blocking(work).await)
    }

    /// Recording segments deleted since start, by reason: `max_age` and `max_bytes`
    /// (retention), `api` (`DELETE`). Every reason is listed, zeros included.
    pub fn recordings_deleted(&self) -> Vec<(&'static str, u64)> {
        self.shared.catalog.deleted()
    }
}

fn join<T>(r: Result<Result<T, CatalogError>, tokio::task::JoinError>) -> Result<T, CatalogError> {
    r.unwrap_or_else(|e| {
        Err(CatalogError::Io { op: "reading", path: String::new(), reason: e.to_string() })
    })
}
