//! What a mirror takes and how far it goes: include/exclude globs, limits,
//! and the identities that tell a directory loop.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use ftpkit_control::listing::Entry;
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, Result};

/// Include and exclude globs, matched against a path relative to the
/// mirror's root with `/` separators. A pattern without `/` matches the
/// name alone, anywhere in the tree (`*.log`); one with `/` matches the
/// whole relative path (`logs/**`, `a/*/b.txt`).
/// - An excluded directory is not walked; an excluded file is not
///   transferred (nor deleted by `delete`).
/// - With includes, only files matching one are transferred; directories
///   are always walked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    include: Option<Split>,
    exclude: Option<Split>,
}

/// Patterns on names and patterns on paths.
#[derive(Clone, Debug)]
struct Split {
    names: GlobSet,
    paths: GlobSet,
}

impl Split {
    fn new(patterns: &[String]) -> Result<Option<Self>> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for p in patterns {
            let glob = Glob::new(p.trim_start_matches('/'))
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("glob {p:?}: {e}")))?;
            if p.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("globs: {e}")))
        };
        Ok(Some(Self {
            names: build(names)?,
            paths: build(paths)?,
        }))
    }

    fn matches(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.names.is_match(name) || self.paths.is_match(rel)
    }
}

impl Filter {
    /// Compiles the globs; a malformed one is [`ErrorKind::InvalidArgument`].
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Self> {
        Ok(Self {
            include: Split::new(include)?,
            exclude: Split::new(exclude)?,
        })
    }

    /// Whether the directory at `rel` is walked.
    pub(crate) fn walks(&self, rel: &str) -> bool {
        !self.exclude.as_ref().is_some_and(|x| x.matches(rel))
    }

    /// Whether the file at `rel` is mirrored.
    pub(crate) fn takes(&self, rel: &str) -> bool {
        self.walks(rel) && self.include.as_ref().is_none_or(|i| i.matches(rel))
    }

    /// Whether the entry at `rel` (a directory when `dir`) is the mirror's
    /// business: walked or taken, and so also deleted by `delete`.
    pub(crate) fn mirrors(&self, rel: &str, dir: bool) -> bool {
        if dir {
            self.walks(rel)
        } else {
            self.takes(rel)
        }
    }
}

/// Who a directory is, to tell that a listing goes round in a circle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DirId {
    /// The MLSx `unique` fact (RFC 3659 §7.5.2).
    Unique(Vec<u8>),
    /// A digest of the listing (names, kinds, sizes, times), for servers
    /// without `unique`: a directory listing exactly what one of its
    /// parents lists is taken for that parent.
    Listing(u64),
}

impl DirId {
    /// The `unique` fact of a directory's entry (in its parent's listing,
    /// or its own `cdir` row).
    pub(crate) fn unique(e: &Entry) -> Option<Self> {
        e.fact("unique")
            .filter(|v| !v.is_empty())
            .map(|v| Self::Unique(v.to_ascii_lowercase()))
    }

    /// The digest of a listing's entries (order does not matter).
    pub(crate) fn listing(entries: &[Entry]) -> Self {
        let mut rows: Vec<u64> = entries
            .iter()
            .map(|e| {
                let mut h = DefaultHasher::new();
                e.name.as_bytes().hash(&mut h);
                format!("{:?}", e.kind).hash(&mut h);
                e.size.hash(&mut h);
                e.modified.map(|m| m.at).hash(&mut h);
                h.finish()
            })
            .collect();
        rows.sort_unstable();
        let mut h = DefaultHasher::new();
        rows.hash(&mut h);
        Self::Listing(h.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|&x| x.to_owned()).collect()
    }

    #[test]
    fn names_match_anywhere_paths_match_from_the_root() {
        let f = Filter::new(&v(&["*.bin"]), &v(&["tmp", "logs/**", "*.part"])).unwrap_or_default();
        assert!(f.takes("a.bin"));
        assert!(f.takes("d/e/a.bin"));
        assert!(!f.takes("a.txt"));
        assert!(!f.takes("x.part"));
        assert!(f.walks("d"));
        assert!(!f.walks("tmp"));
        assert!(!f.walks("d/tmp"));
        assert!(!f.walks("logs/2024"));
        assert!(f.walks("d/logs"));
        // Includes do not stop the walk.
        assert!(f.walks("docs"));
        assert!(Filter::new(&v(&["[z-a"]), &[]).is_err());
    }
}
