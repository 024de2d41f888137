//! The S7comm walkers the stream step ([`crate::stream::segment`]) runs, one per direction:
//! the byte walker's [`S7Cursor`] lives in the bytes of the direction's
//! [`crate::stream::StreamCursor`].

use super::{
    check::{S7Cursor, S7Denial, walk},
    profile::S7Profile,
};
use crate::{
    packet::PacketBytes,
    stream::{StreamCursor, Walker},
};

/// One direction of an S7comm flow: the client's (it opened the connection), judged against
/// `profile`, or the server's (`profile: None`: framing and direction).
pub struct Direction<'a> {
    pub profile: Option<&'a S7Profile>,
}

impl<'a> Direction<'a> {
    /// What the client sends, judged against `profile`.
    pub const fn client(profile: &'a S7Profile) -> Direction<'a> {
        Direction {
            profile: Some(profile),
        }
    }

    /// What the server (the PLC) sends.
    pub const SERVER: Direction<'static> = Direction { profile: None };
}

const _: () = {
    assert!(core::mem::size_of::<S7Cursor>() <= core::mem::size_of::<StreamCursor>());
    assert!(core::mem::align_of::<S7Cursor>() <= core::mem::align_of::<StreamCursor>());
};

/// The [`S7Cursor`] kept in `c`'s bytes.
#[inline(always)]
pub fn cursor_in(c: &mut StreamCursor) -> &mut S7Cursor {
    // SAFETY: both types are `repr(C)` structs of integers only (every bit pattern is a valid
    // value), `S7Cursor` is no larger and no more aligned than `StreamCursor` (asserted
    // above), and the returned borrow is the only access to `c` while it lives.
    unsafe { &mut *(c as *mut StreamCursor).cast::<S7Cursor>() }
}

impl Walker for Direction<'_> {
    type Denial = S7Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), S7Denial> {
        walk(b, off, len, cursor_in(cursor), session, self.profile).map(|_| ())
    }
}
