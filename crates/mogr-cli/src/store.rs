//! Writing results under an output folder without ever leaving it: every folder on the way
//! is opened through a capability handle on the folder above it (`cap-std`), refusing any
//! component that is a symbolic link (a link is never followed, whether it points inside or
//! outside), and each file is written to a temporary file in its folder, then renamed into
//! place, so that a reader never sees half a file and a failure leaves nothing behind.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_fs_ext::DirExt;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

/// An output folder.
pub(crate) struct OutDir {
    root: Dir,
}

/// Temporary names are unique within the process.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl OutDir {
    /// Opens (and creates, when missing) the folder `path`; `path` itself may be a link.
    pub(crate) fn open(path: &Path) -> std::io::Result<OutDir> {
        std::fs::create_dir_all(path)?;
        Ok(OutDir {
            root: Dir::open_ambient_dir(path, ambient_authority())?,
        })
    }

    /// Writes `bytes` as `key` (`/`-separated, relative to the folder), creating the folders
    /// on the way. Refuses a key with an empty, `.` or `..` component, and any component
    /// that exists as a symbolic link.
    pub(crate) fn write(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        self.write_file(key, bytes, true)
    }

    /// As [`OutDir::write`]; when `replace` is false an existing file is kept and the write
    /// fails (the new file is linked into place, which fails atomically if the name is
    /// taken, rather than renamed over it).
    pub(crate) fn write_file(&self, key: &str, bytes: &[u8], replace: bool) -> Result<(), String> {
        let parts: Vec<&str> = key.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(format!("`{key}` is not a plain relative path"));
        }
        let (name, folders) = parts.split_last().ok_or("empty key")?;
        let io = |e: std::io::Error| e.to_string();
        let mut dir = self.root.try_clone().map_err(io)?;
        for folder in folders {
            match dir.symlink_metadata(folder) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!(
                        "`{folder}` is a symbolic link, which is not followed"
                    ))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(format!("`{folder}` exists and is not a folder")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match dir.create_dir(folder) {
                        Ok(()) => {}
                        // Made meanwhile by someone else: opened without following below.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io(e)),
                    }
                }
                Err(e) => return Err(io(e)),
            }
            // Never follows a link, even one put there since the check above.
            dir = dir
                .open_dir_nofollow(folder)
                .map_err(|e| format!("cannot open `{folder}` without following links: {e}"))?;
        }
        match dir.symlink_metadata(name) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "`{name}` is a symbolic link, which is not followed"
                ))
            }
            Ok(m) if m.is_dir() => return Err(format!("`{name}` is a folder")),
            _ => {}
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = format!(".{name}.{}-{n}.mogr-tmp", std::process::id());
        let written = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            let mut file = dir.open_with(&temp, &options)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            if replace {
                // A rename replaces the directory entry itself: never a link's target.
                dir.rename(&temp, &dir, name)
            } else {
                dir.hard_link(&temp, &dir, name)?;
                dir.remove_file(&temp)
            }
        })();
        written.map_err(|e| {
            let _ = dir.remove_file(&temp);
            io(e)
        })
    }
}
