//! The DNP3 walkers the stream step ([`crate::stream::segment`]) runs, one per direction: the
//! byte walker's [`Dnp3Cursor`] lives in the bytes of the direction's
//! [`crate::stream::StreamCursor`].

use super::{
    check::{Dnp3Cursor, Dnp3Denial, walk},
    profile::Dnp3Profile,
};
use crate::{
    packet::PacketBytes,
    stream::{StreamCursor, Walker},
};

/// One direction of a DNP3 flow: the master's (the client that opened the connection),
/// judged against `profile`, or the outstation's (`profile: None`: framing, CRCs and
/// direction).
pub struct Direction<'a> {
    pub profile: Option<&'a Dnp3Profile>,
}

impl<'a> Direction<'a> {
    /// What the master sends, judged against `profile`.
    pub const fn master(profile: &'a Dnp3Profile) -> Direction<'a> {
        Direction {
            profile: Some(profile),
        }
    }

    /// What the outstation sends.
    pub const OUTSTATION: Direction<'static> = Direction { profile: None };
}

const _: () = {
    assert!(core::mem::size_of::<Dnp3Cursor>() <= core::mem::size_of::<StreamCursor>());
    assert!(core::mem::align_of::<Dnp3Cursor>() <= core::mem::align_of::<StreamCursor>());
};

/// The [`Dnp3Cursor`] kept in `c`'s bytes.
#[inline(always)]
pub fn cursor_in(c: &mut StreamCursor) -> &mut Dnp3Cursor {
    // SAFETY: both types are `repr(C)` structs of integers only (every bit pattern is a valid
    // value), `Dnp3Cursor` is no larger and no more aligned than `StreamCursor` (asserted
    // above), and the returned borrow is the only access to `c` while it lives.
    unsafe { &mut *(c as *mut StreamCursor).cast::<Dnp3Cursor>() }
}

impl Walker for Direction<'_> {
    type Denial = Dnp3Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        _session: &mut u8,
    ) -> Result<(), Dnp3Denial> {
        walk(b, off, len, cursor_in(cursor), self.profile).map(|_| ())
    }
}
