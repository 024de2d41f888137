//! The OPC UA walkers the stream step ([`crate::stream::segment`]) runs, one per direction:
//! the chunk walker's [`OpcuaCursor`] lives in the bytes of the direction's
//! [`crate::stream::StreamCursor`].

use super::{
    check::{OpcuaCursor, OpcuaDenial, walk},
    profile::OpcuaProfile,
};
use crate::{
    packet::PacketBytes,
    stream::{StreamCursor, Walker},
};

/// One direction of an OPC UA flow: the client's, judged against `profile`, or the server's
/// (`profile: None`: framing and direction).
pub struct Direction<'a> {
    pub profile: Option<&'a OpcuaProfile>,
}

impl<'a> Direction<'a> {
    /// What the client sends, judged against `profile`.
    pub const fn client(profile: &'a OpcuaProfile) -> Direction<'a> {
        Direction {
            profile: Some(profile),
        }
    }

    /// What the server sends.
    pub const SERVER: Direction<'static> = Direction { profile: None };
}

const _: () = assert!(core::mem::size_of::<OpcuaCursor>() <= core::mem::size_of::<StreamCursor>());

/// The [`OpcuaCursor`] kept in `c`'s bytes (copied out: it is more aligned than the stream
/// cursor). A fresh flow's cursor is all zeroes: between chunks, no message open.
#[inline(always)]
pub fn cursor_of(c: &StreamCursor) -> OpcuaCursor {
    // SAFETY: both types are `repr(C)` structs of integers only (every bit pattern is a valid
    // value) and `OpcuaCursor` is no larger than `StreamCursor` (asserted above); the read is
    // unaligned.
    unsafe { core::ptr::read_unaligned((c as *const StreamCursor).cast::<OpcuaCursor>()) }
}

/// The [`OpcuaCursor::flags`] kept in `c`'s bytes (one byte read, no copy of the cursor).
#[inline(always)]
pub fn flags_of(c: &StreamCursor) -> u8 {
    // SAFETY: as in `cursor_of`: the byte at `flags`'s offset of an `OpcuaCursor` laid over
    // `c`, inside it.
    unsafe {
        *(c as *const StreamCursor)
            .cast::<u8>()
            .add(core::mem::offset_of!(OpcuaCursor, flags))
    }
}

/// Keeps `o` in `c`'s bytes.
#[inline(always)]
pub fn set_cursor(c: &mut StreamCursor, o: &OpcuaCursor) {
    // SAFETY: as in `cursor_of`; the write is unaligned and stays inside `c`.
    unsafe { core::ptr::write_unaligned((c as *mut StreamCursor).cast::<OpcuaCursor>(), *o) }
}

impl Walker for Direction<'_> {
    type Denial = OpcuaDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), OpcuaDenial> {
        let mut o = cursor_of(cursor);
        walk(b, off, len, &mut o, session, self.profile)?;
        set_cursor(cursor, &o);
        Ok(())
    }
}
