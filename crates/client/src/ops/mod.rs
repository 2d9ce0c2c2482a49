//! Higher-level operations built on [`Client`](crate::Client): progress
//! reporting, whole-file transfers with resume and verification, streamed
//! listings, recursive mirroring over several sessions, and segmented
//! downloads.
//!
//! | module | holds |
//! |---|---|
//! | `progress.rs` | [`Progress`], [`ProgressEvent`], [`Meter`], [`Metered`] |
//! | `file_source.rs` | [`FileSource`]: a local file read ahead on its own thread, for uploads |
//! | `files.rs` | [`FileOptions`], [`Verify`], [`FileReport`]: what whole-file transfers take and give |
//! | `download.rs` | [`download_file`], [`download_to_writer`]: the one download routine |
//! | `partial.rs` | [`part_path`], [`PARTIAL_DIR`]: where a download waits until complete |
//! | `sink.rs` | the writer thread downloads write through |
//! | `upload.rs` | [`upload_file`], [`LocalStamp`], [`atomic_upload_name`] |
//! | `hashes.rs` | [`Client::server_hash`](crate::Client::server_hash), [`local_file_hash`] |
//! | `listing_stream.rs` | [`list_stream`], [`list_stream_arg`], [`nlst_stream`], [`line_stream`] |
//! | `mirror/` | [`mirror_down`], [`mirror_up`], [`MirrorOptions`], [`MirrorReport`]: `mod.rs` (options, report, entry points), `walk.rs` (listing both sides, limits, loops, deletions), `jobs.rs` (the bounded queue and its workers), `rules.rs` (globs, directory identities) |
//! | `segmented.rs` | [`segmented_download`], [`auto_segments`] |

mod download;
mod file_source;
mod files;
mod hashes;
mod listing_stream;
mod mirror;
mod partial;
mod progress;
mod segmented;
mod sink;
mod upload;

pub use download::{download_file, download_to_writer};
pub use file_source::FileSource;
pub use files::{FileOptions, FileReport, Verify};
pub use ftpkit_control::command::HashAlgorithm;
pub use hashes::local_file_hash;
pub use listing_stream::{line_stream, list_stream, list_stream_arg, nlst_stream};
pub use mirror::{
    auto_parallelism, mirror_down, mirror_up, MirrorError, MirrorOptions, MirrorReport, Planned,
    AUTO_PARALLELISM_CAP,
};
pub use partial::{adopt_partial, part_path, PARTIAL_DIR};
pub use progress::{
    FileProgress, JobProgress, Meter, Metered, Progress, ProgressEvent, RATE_WINDOW,
    REPORT_INTERVAL,
};
pub use segmented::{
    auto_segments, segmented_download, SegmentOptions, SegmentReport, AUTO_SEGMENTS_CAP,
    AUTO_SEGMENTS_RTT, AUTO_SEGMENT_MIN,
};
pub use upload::{atomic_upload_name, upload_file, LocalStamp};

/// Buffer size of the file copies and the whole-file helpers of `Client`:
/// large enough that loopback and TLS are not limited by per-call overhead.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;
