//! Helpers shared by the test modules: temporary files.

use std::path::PathBuf;

/// A temporary directory holding one file; removed when dropped.
pub struct TempFile {
    _dir: tempfile::TempDir,
    /// The file's path.
    pub path: PathBuf,
}

/// Write `contents` to a file called `name` in a new temporary directory.
pub fn file(name: &str, contents: impl AsRef<[u8]>) -> TempFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    TempFile { _dir: dir, path }
}
