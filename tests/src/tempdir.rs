//! A temporary directory removed on drop (policy files, daemon log and socket).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/<stem>` (replacing a leftover of the same name).
    pub fn new(stem: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(stem);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("failed to remove leftover {}", path.display()))?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
