//! Where a download waits until it is complete: the partial folder beside
//! its target, and the rename that publishes it.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// The folder beside a download's target that holds its partial file.
///
/// A partial file named after its target with a suffix (`a.bin.part`)
/// could be the name of another remote file, which a mirror would then
/// overwrite or take for a partial download. A folder of ftpkit's own
/// cannot: mirror refuses a remote entry of this one name (reported in
/// [`MirrorReport::refused`](super::MirrorReport::refused)) and never
/// uploads a local one.
pub const PARTIAL_DIR: &str = ".ftpkit-partial";

/// Where the partial download of `local` is kept until it is complete:
/// `DIR/.ftpkit-partial/NAME` for `local` = `DIR/NAME`. A failed download
/// that received bytes leaves them there for a resume
/// ([`FileOptions::resume`](super::FileOptions::resume), `ftpkit get
/// --resume`, mirror); a finished one is renamed onto `local` (the same
/// file system), and the folder is removed once empty.
pub fn part_path(local: &Path) -> PathBuf {
    let dir = local.parent().unwrap_or_else(|| Path::new(""));
    dir.join(PARTIAL_DIR)
        .join(local.file_name().unwrap_or_default())
}

/// Makes sure the partial folder of `local` is a real directory (never a
/// link), and returns the partial file's path, itself no link.
pub(crate) async fn prepare_part(local: &Path) -> Result<PathBuf> {
    let part = part_path(local);
    if let Some(dir) = part.parent() {
        match tokio::fs::symlink_metadata(dir).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{} is not a directory: ftpkit keeps partial downloads there",
                        dir.display()
                    ),
                ))
            }
            Err(_) => match tokio::fs::create_dir(dir).await {
                Ok(()) => {}
                // Another worker of the same mirror was first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("creating", dir, e)),
            },
        }
    }
    refuse_symlink(&part).await?;
    Ok(part)
}

/// Takes an existing `local` file, shorter than its remote copy (a
/// download another tool cut short), as the start of its own download: it
/// moves into [`part_path`]`(local)`, where a resuming
/// [`download_file`](super::download_file) continues it. Nothing is done
/// when a partial file is already there or `local` is no regular file.
pub async fn adopt_partial(local: &Path) -> Result<()> {
    let part = part_path(local);
    let regular = tokio::fs::symlink_metadata(local)
        .await
        .is_ok_and(|m| m.is_file());
    if !regular || tokio::fs::symlink_metadata(&part).await.is_ok() {
        return Ok(());
    }
    let part = prepare_part(local).await?;
    tokio::fs::rename(local, &part)
        .await
        .map_err(|e| io_err(&format!("moving {} to", local.display()), &part, e))
}

/// Renames a finished partial file onto its target, then removes the
/// partial folder if nothing else is in it.
pub(crate) async fn commit_part(part: &Path, local: &Path) -> Result<()> {
    tokio::fs::rename(part, local)
        .await
        .map_err(|e| io_err("renaming into", local, e))?;
    remove_part_dir(part).await;
    Ok(())
}

/// After a failure: removes the partial file when it holds nothing worth
/// resuming (`keep` false, or no bytes), and then its folder when empty.
pub(crate) async fn discard_part(part: &Path, keep: bool) {
    let empty = tokio::fs::metadata(part).await.is_ok_and(|m| m.len() == 0);
    if !keep || empty {
        let _ = tokio::fs::remove_file(part).await;
    }
    remove_part_dir(part).await;
}

async fn remove_part_dir(part: &Path) {
    if let Some(dir) = part.parent() {
        // Fails, as it should, while other partial files are in it.
        let _ = tokio::fs::remove_dir(dir).await;
    }
}

/// Refuses to write through `path` when it is a symlink (a planted link
/// could send the download anywhere).
pub(crate) async fn refuse_symlink(path: &Path) -> Result<()> {
    if tokio::fs::symlink_metadata(path)
        .await
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is a symlink: not writing through it", path.display()),
        ));
    }
    Ok(())
}

pub(crate) fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::from_io(&format!("{what} {}", path.display()), e)
}
