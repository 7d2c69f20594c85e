//! The BTF file's bytes: mapped where it is the kernel's own (sysfs maps
//! `/sys/kernel/btf/vmlinux` read-only since Linux 6.16, straight from
//! kernel memory, so its 5 MiB never count in the tracer's RSS), read into
//! memory otherwise (older kernels, a `--btf` file).

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::os::fd::AsRawFd;

/// `SYSFS_MAGIC` (linux/magic.h).
const SYSFS_MAGIC: u64 = 0x6265_6572;

pub enum Bytes {
    Mapped(Mapping),
    Read(Vec<u8>),
}

impl Bytes {
    pub fn of(mut file: File) -> io::Result<Self> {
        if on_sysfs(&file)
            && let Some(m) = Mapping::new(&file)
        {
            return Ok(Self::Mapped(m));
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        Ok(Self::Read(data))
    }

    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        matches!(self, Self::Mapped(_))
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m.bytes(),
            Self::Read(v) => v,
        }
    }
}

/// Only sysfs: a regular file mapped could shrink under the tracer (SIGBUS).
fn on_sysfs(file: &File) -> bool {
    // SAFETY: statfs is plain data; zeroed is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a pointer to a statfs the call fills.
    let r = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    // `f_type` is signed in glibc, unsigned in musl.
    r == 0 && st.f_type as u64 == SYSFS_MAGIC
}

/// A private read-only mapping of a whole file, unmapped on drop.
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    /// `None` where the file cannot be mapped (sysfs before 6.16, say).
    fn new(file: &File) -> Option<Self> {
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a fresh mapping (address chosen by the kernel) of an open
        // fd; nothing else is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Self { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes mapped readable at `ptr` for as long as self
        // lives; sysfs's BTF is the kernel's, fixed for its lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no borrow of
        // `bytes` outlives self.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_btf_is_mapped_and_a_regular_file_is_read() {
        let sys = Bytes::of(File::open("/sys/kernel/btf/vmlinux").expect("this kernel has BTF"))
            .expect("readable");
        // This machine runs 6.18: sysfs maps it.
        assert!(sys.is_mapped());
        assert_eq!(sys.get(..2), Some(&0xeb9fu16.to_ne_bytes()[..]));
        let path = std::env::temp_dir().join(format!("tracer-btf-src-{}", std::process::id()));
        std::fs::write(&path, &sys[..4096]).expect("temp file");
        let file = Bytes::of(File::open(&path).expect("open")).expect("read");
        let _ = std::fs::remove_file(&path);
        assert!(!file.is_mapped());
        assert_eq!(&file[..], &sys[..4096]);
    }
}
