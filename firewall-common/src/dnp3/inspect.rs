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

/// Judges what the master (the client that opened the connection) sends.
pub struct Master<'a> {
    pub profile: &'a Dnp3Profile,
}

/// Judges what the outstation sends: framing, CRCs and direction.
pub struct Outstation;

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

impl Walker for Master<'_> {
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
        walk(b, off, len, cursor_in(cursor), Some(self.profile)).map(|_| ())
    }
}

impl Walker for Outstation {
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
        walk(b, off, len, cursor_in(cursor), None).map(|_| ())
    }
}
