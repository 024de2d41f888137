//! Walkers whose per-byte step runs under `bpf_loop`: the verifier checks the step until its
//! state converges, not once per iteration with every path of the ones before it (a plain
//! loop of judged PDUs does not verify within the kernel's budget).
//!
//! Each walker reads the segment from the [`Payload`] copy it holds (the bytes passed to
//! [`Walker::walk_segment`] are the same payload; the loop context keeps a plain pointer
//! to the map value, which is what the callback can use).

use core::ffi::c_void;

use aya_ebpf::helpers::generated::bpf_loop;
use firewall_common::{
    dnp3::{self, Dnp3Denial, Dnp3Profile, Dnp3Violation},
    packet::PacketBytes,
    stream::{self, Inspector, PAYLOAD_MAX, Payload, PayloadBytes, StreamCursor, Walker},
};

/// `inspector` walked one byte per `bpf_loop` iteration over `payload`
/// ([`stream::step_byte`], the step of the host's [`stream::walk`]; a plain loop over the
/// bytes does not verify within the kernel's budget, every iteration multiplying the paths of
/// the ones before it, while the callback's state converges).
pub struct Looped<I> {
    pub inspector: I,
    pub payload: &'static Payload,
}

/// The state a byte step sees, on the caller's stack.
struct HeadLoop<I: Inspector> {
    cursor: stream::Head,
    bits: u8,
    payload: &'static Payload,
    off: usize,
    end: usize,
    inspector: *const I,
    denial: Option<I::Denial>,
}

/// One byte of the walk; stops the loop (1) on a denial.
extern "C" fn head_step<I: Inspector>(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `HeadLoop<I>` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs; `inspector` points at the walker's inspector.
    let (ctx, inspector) = unsafe {
        let ctx = &mut *ctx.cast::<HeadLoop<I>>();
        let inspector = &*ctx.inspector;
        (ctx, inspector)
    };
    let bytes = PayloadBytes {
        payload: ctx.payload,
        len: ctx.end,
    };
    let Some([byte]) = bytes.load::<1>(ctx.off + index as usize) else {
        ctx.denial = Some(inspector.unwalkable());
        return 1;
    };
    match stream::step_byte(&mut ctx.cursor, &mut ctx.bits, byte, inspector) {
        Ok(_) => 0,
        Err(d) => {
            ctx.denial = Some(d);
            1
        }
    }
}

impl<I: Inspector> Walker for Looped<I> {
    type Denial = I::Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), I::Denial> {
        if len > PAYLOAD_MAX {
            return Err(self.inspector.unwalkable());
        }
        let mut ctx = HeadLoop {
            cursor: cursor.head(),
            bits: *session,
            payload: self.payload,
            off,
            end: off + len,
            inspector: &self.inspector,
            denial: None,
        };
        // SAFETY: `head_step::<I>` is the callback for this context type; `ctx` lives on this
        // stack frame for the whole call.
        unsafe {
            bpf_loop(
                len as u32,
                head_step::<I> as *mut c_void,
                (&mut ctx as *mut HeadLoop<I>).cast(),
                0,
            );
        }
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        cursor.set_head(ctx.cursor);
        *session = ctx.bits;
        Ok(())
    }
}

/// DNP3 walked one byte per `bpf_loop` iteration over `payload`: the master's direction
/// with `Some(profile)`, the outstation's with `None`.
pub struct Dnp3Looped {
    pub profile: Option<&'static Dnp3Profile>,
    pub payload: &'static Payload,
}

/// The state a DNP3 byte step sees, on the caller's stack.
struct ByteLoop {
    cursor: dnp3::Dnp3Cursor,
    profile: Option<&'static Dnp3Profile>,
    payload: &'static Payload,
    off: usize,
    len: usize,
    denial: Option<Dnp3Denial>,
}

/// One byte of a DNP3 walk; stops the loop (1) on a denial.
extern "C" fn dnp3_step(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `ByteLoop` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs.
    let ctx = unsafe { &mut *ctx.cast::<ByteLoop>() };
    let bytes = PayloadBytes {
        payload: ctx.payload,
        len: ctx.off + ctx.len,
    };
    let Some([byte]) = bytes.load::<1>(ctx.off + index as usize) else {
        ctx.denial = Some(Dnp3Denial::new(Dnp3Violation::Malformed));
        return 1;
    };
    match dnp3::step(&mut ctx.cursor, byte, ctx.profile) {
        Ok(_) => 0,
        Err(d) => {
            ctx.denial = Some(d);
            1
        }
    }
}

impl Walker for Dnp3Looped {
    type Denial = Dnp3Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        _session: &mut u8,
    ) -> Result<(), Dnp3Denial> {
        if len > dnp3::MAX_SEGMENT_BYTES {
            return Err(Dnp3Denial::new(Dnp3Violation::Malformed));
        }
        let state = dnp3::cursor_in(cursor);
        let mut ctx = ByteLoop {
            cursor: *state,
            profile: self.profile,
            payload: self.payload,
            off,
            len,
            denial: None,
        };
        // SAFETY: `dnp3_step` is the callback for this context type; `ctx` lives on this
        // stack frame for the whole call.
        unsafe {
            bpf_loop(
                len as u32,
                dnp3_step as *mut c_void,
                (&mut ctx as *mut ByteLoop).cast(),
                0,
            );
        }
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        *state = ctx.cursor;
        Ok(())
    }
}
