//! XDP links as the kernel sees them: a reference of the daemon's own to each link (so a
//! removed pin does not detach it while the daemon runs), and what the kernel says the link is
//! attached to and runs. aya 0.14 neither exposes a link's file descriptor nor its interface,
//! so these are the few `bpf(2)` commands it takes, with the `bpf_attr` layouts spelled out.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;

/// What the kernel reports about a link (`struct bpf_link_info`, XDP part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub id: u32,
    pub prog_id: u32,
    /// The interface the link holds; 0 once it was detached (`BPF_LINK_DETACH`, or the
    /// interface went away).
    pub ifindex: u32,
}

/// A zeroed `union bpf_attr` prefix, filled field by field at the kernel's offsets.
#[repr(C, align(8))]
struct Attr([u8; 32]);

impl Attr {
    fn new() -> Self {
        Attr([0; 32])
    }

    fn u32(mut self, offset: usize, value: u32) -> Self {
        self.0[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        self
    }

    fn u64(mut self, offset: usize, value: u64) -> Self {
        self.0[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
        self
    }
}

fn bpf(cmd: libc::c_long, mut attr: Attr) -> io::Result<i64> {
    // SAFETY: `attr` is a `union bpf_attr` prefix as long as the size passed, laid out for
    // `cmd`; every pointer in it points to memory that outlives the call and is at least as
    // large as the length given beside it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<Attr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// A new reference to the link with kernel id `id`.
pub fn by_id(id: u32) -> io::Result<OwnedFd> {
    // link_id (u32), next_id (u32), open_flags (u32).
    bpf(BPF_LINK_GET_FD_BY_ID, Attr::new().u32(0, id)).map(owned)
}

/// The object pinned at `path`.
pub fn from_pin(path: &Path) -> io::Result<OwnedFd> {
    let name = c_path(path)?;
    // pathname (u64), bpf_fd (u32), file_flags (u32).
    bpf(BPF_OBJ_GET, Attr::new().u64(0, name.as_ptr() as u64)).map(owned)
}

/// Pins the link `fd` at `path`.
pub fn pin(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let name = c_path(path)?;
    let attr = Attr::new()
        .u64(0, name.as_ptr() as u64)
        .u32(8, fd.as_raw_fd() as u32);
    bpf(BPF_OBJ_PIN, attr).map(drop)
}

/// What the kernel says about the link `fd`.
pub fn state(fd: &OwnedFd) -> io::Result<LinkState> {
    // struct bpf_link_info: type, id, prog_id (u32 each), then a union aligned to 8 whose
    // XDP member starts with ifindex (word 4). The kernel copies at most `info_len` bytes.
    let mut info = [0u32; 16];
    // bpf_fd (u32), info_len (u32), info (u64).
    let attr = Attr::new()
        .u32(0, fd.as_raw_fd() as u32)
        .u32(4, std::mem::size_of_val(&info) as u32)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr)?;
    Ok(LinkState {
        id: info[1],
        prog_id: info[2],
        ifindex: info[4],
    })
}
