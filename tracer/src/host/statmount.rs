//! The calling thread's mounts by `listmount(2)` and `statmount(2)`
//! (Linux 6.8+), one mount at a time: mountinfo renders every mount's
//! line on every read, ~1 µs per mount, which a node's thousand mounts
//! (overlays, secrets, tokens) make a millisecond per read. Mount ids
//! are unique for the boot, so a mount once looked at need not be again.
//!
//! libc has neither call, nor their structs: the ABI
//! (`include/uapi/linux/mount.h`) is here.

use std::ffi::CStr;
use std::io;

/// The first `struct mnt_id_req` (`MNT_ID_REQ_SIZE_VER0`): the caller's
/// own mount namespace.
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// (statmount, listmount): the same numbers on every architecture but
/// alpha (no Rust target) and mips.
const NR: Option<(libc::c_long, libc::c_long)> = if cfg!(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "mips32r6",
    target_arch = "mips64r6",
)) {
    None
} else {
    Some((457, 458))
};

/// listmount's `mnt_id` for every mount of the namespace.
const LSMT_ROOT: u64 = u64::MAX;

const STATMOUNT_SB_BASIC: u64 = 0x01;
const STATMOUNT_MNT_ROOT: u64 = 0x08;
const STATMOUNT_MNT_POINT: u64 = 0x10;

/// Offsets in `struct statmount`: the fixed part is 512 bytes, the
/// strings (`[str]` fields are offsets into them) follow.
const MASK: usize = 8;
const SB_MAGIC: usize = 24;
const MNT_ROOT: usize = 104;
const MNT_POINT: usize = 108;
const STR: usize = 512;

/// `NSFS_MAGIC`: the superblock of namespace files.
pub const NSFS_MAGIC: u64 = 0x6e73_6673;

fn numbers() -> io::Result<(libc::c_long, libc::c_long)> {
    NR.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The unique ids of every mount of the calling thread's mount namespace
/// that its root reaches, ascending.
pub fn list() -> io::Result<Vec<u64>> {
    let (_, nr) = numbers()?;
    let mut ids: Vec<u64> = Vec::new();
    let mut chunk = vec![0u64; 1024];
    loop {
        // After the last id listed: the listing goes on from there.
        let after = ids.last().copied().unwrap_or(0);
        // SAFETY: listmount writes u64 ids.
        let n = unsafe { request(nr, LSMT_ROOT, after, &mut chunk) }?;
        ids.extend_from_slice(&chunk[..n.min(chunk.len())]);
        if n < chunk.len() {
            return Ok(ids);
        }
    }
}

/// What [`stat`] tells of one mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mount's root in its filesystem (`net:[4026532177]` for a
    /// namespace file), unescaped.
    pub root: String,
    /// Where it is mounted, from the caller's root, unescaped.
    pub point: String,
}

/// The magic number of a mount's filesystem (its paths not rendered:
/// cheaper); `Ok(None)` when the mount is gone.
pub fn magic(id: u64, buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
    Ok(call(id, STATMOUNT_SB_BASIC, buf)?.then(|| u64_at(buf, SB_MAGIC)))
}

/// One mount by its unique id; `Ok(None)` when it is gone.
pub fn stat(id: u64, buf: &mut Vec<u8>) -> io::Result<Option<Mount>> {
    if !call(id, STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT, buf)? {
        return Ok(None);
    }
    let string = |field: usize| -> io::Result<String> {
        let at = STR.saturating_add(u32_at(buf, field) as usize);
        let s = buf
            .get(at..)
            .and_then(|b| CStr::from_bytes_until_nul(b).ok());
        s.map(|s| s.to_string_lossy().into_owned()).ok_or_else(|| {
            io::Error::other(format!("statmount of mount {id}: a string past the end"))
        })
    };
    Ok(Some(Mount {
        root: string(MNT_ROOT)?,
        point: string(MNT_POINT)?,
    }))
}

/// statmount(2) of `id` for `want` into `buf`: false when the mount is gone.
fn call(id: u64, want: u64, buf: &mut Vec<u8>) -> io::Result<bool> {
    let (nr, _) = numbers()?;
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    // SAFETY: statmount writes bytes.
    while let Err(e) = unsafe { request(nr, id, want, buf.as_mut_slice()) } {
        match e.raw_os_error() {
            Some(libc::ENOENT) => return Ok(false),
            // Strings longer than the buffer.
            Some(libc::EOVERFLOW) if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            _ => return Err(e),
        }
    }
    let got = u64_at(buf, MASK);
    if got & want != want {
        return Err(io::Error::other(format!(
            "statmount of mount {id} gave mask {got:#x}, not {want:#x}"
        )));
    }
    Ok(true)
}

/// One listmount or statmount (`nr`) of `mnt_id` with `param`, into
/// `out`: what it returned (listmount: how many ids it wrote).
///
/// # Safety
///
/// `T` is what the call writes `out.len()` of at most: `u64` ids for
/// listmount, bytes for statmount.
unsafe fn request<T>(
    nr: libc::c_long,
    mnt_id: u64,
    param: u64,
    out: &mut [T],
) -> io::Result<usize> {
    let req = MntIdReq {
        size: size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id,
        param,
    };
    // SAFETY: `req` and `out` outlive the call; the kernel writes at most
    // `out.len()` items of `T` into `out` (the caller's promise).
    let r = unsafe {
        libc::syscall(
            nr,
            &raw const req,
            out.as_mut_ptr(),
            out.len(),
            0 as libc::c_uint,
        )
    };
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}

// In bounds: the buffer is never shorter than the fixed part.
fn u32_at(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}
