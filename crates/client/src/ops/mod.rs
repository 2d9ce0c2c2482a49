//! Higher-level operations built on [`Client`](crate::Client): progress
//! reporting, whole-file transfers with resume and verification, streamed
//! listings, recursive mirroring over several sessions, and segmented
//! downloads.
//!
//! | module | holds |
//! |---|---|
//! | `progress.rs` | [`Progress`], [`ProgressEvent`], [`Meter`], [`ProgressRead`], [`ProgressWrite`] |
//! | `file_source.rs` | [`FileSource`]: a local file read ahead on its own thread, for uploads |
//! | `files.rs` | [`download_file`], [`upload_file`]: `.part` files, resume, [`Verify`] |
//! | `hashes.rs` | [`Client::server_hash`](crate::Client::server_hash), [`local_file_hash`] |
//! | `listing_stream.rs` | [`list_stream`], [`list_stream_arg`], [`nlst_stream`], [`line_stream`] |
//! | `mirror.rs` | [`mirror_down`], [`mirror_up`], [`MirrorReport`] |
//! | `segmented.rs` | [`segmented_download`] |

mod file_source;
mod files;
mod hashes;
mod listing_stream;
mod mirror;
mod progress;
mod segmented;

pub use file_source::FileSource;
pub use files::{
    atomic_upload_name, download_file, part_path, upload_file, FileOptions, FileReport, LocalStamp,
    Verify, PARTIAL_DIR,
};
pub(crate) use files::{commit_part, prepare_part};
pub use ftpkit_control::command::HashAlgorithm;
pub use hashes::local_file_hash;
pub use listing_stream::{line_stream, list_stream, list_stream_arg, nlst_stream};
pub use mirror::{mirror_down, mirror_up, MirrorError, MirrorOptions, MirrorReport};
pub use progress::{
    Meter, Progress, ProgressEvent, ProgressRead, ProgressWrite, RATE_WINDOW, REPORT_INTERVAL,
};
pub use segmented::{segmented_download, SegmentOptions, SegmentReport};

/// Buffer size of the file copies.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;

/// The year now, for LIST rows that omit it.
pub(crate) fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}
