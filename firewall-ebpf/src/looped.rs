//! Walkers whose per-byte step runs under `bpf_loop`: the verifier checks the step until its
//! state converges, not once per iteration with every path of the ones before it (a plain
//! loop of judged PDUs does not verify within the kernel's budget).
//!
//! Each walker reads the segment from the [`Payload`] copy it holds (the bytes passed to
//! [`Walker::walk_segment`] are the same payload; the loop context keeps a plain pointer
//! to the map value, which is what the callback can use).

use core::ffi::c_void;

use aya_ebpf::helpers::generated::bpf_loop;
use firewall_common::maps::{Handoff, walk_state};
use firewall_common::{
    dnp3::{self, Dnp3Denial, Dnp3Profile, Dnp3Violation},
    modbus::{self, MAX_ADUS_PER_SEGMENT, ModbusDenial},
    packet::PacketBytes,
    stream::{self, Inspector, PAYLOAD_MAX, Payload, PayloadBytes, StreamCursor, Walker},
};

use crate::maps::{HANDOFF, MODBUS_PROFILES, PAYLOAD};

/// Records denial `d` of a walk in this CPU's hand-over value (its `walk_denial` bytes, read
/// back by [`recorded_denial`] after the loop) and says the walk is denied; stops the loop.
#[inline(always)]
pub(crate) fn record_denial<D: Copy>(h: &mut Handoff, d: D) -> i64 {
    const { assert!(core::mem::size_of::<D>() <= 12) };
    // SAFETY: 12 bytes hold the denial (asserted above); `D` is a plain `Copy` value.
    unsafe { core::ptr::write_unaligned(h.walk_denial.as_mut_ptr().cast::<D>(), d) };
    h.walk_state = walk_state::DENIED;
    1
}

/// The denial [`record_denial`] wrote (the walk's state says it did).
#[inline(always)]
pub(crate) fn recorded_denial<D: Copy>(h: &Handoff) -> D {
    const { assert!(core::mem::size_of::<D>() <= 12) };
    // SAFETY: as in `record_denial`, which wrote a `D` there.
    unsafe { core::ptr::read_unaligned(h.walk_denial.as_ptr().cast::<D>()) }
}

/// `inspector` walked one byte per `bpf_loop` iteration over `payload`
/// ([`stream::step_byte`], the step of the host's [`stream::walk`]; a plain loop over the
/// bytes does not verify within the kernel's budget, every iteration multiplying the paths of
/// the ones before it, while the callback's state converges).
pub struct Looped<I> {
    pub inspector: I,
    pub payload: &'static Payload,
}

/// The state a byte step sees, on the caller's stack. The cursor and session bits are the
/// caller's own (pointers, not copies: the frames of an inspector program must fit the
/// 512-byte stack), which it discards on a denial.
struct HeadLoop<I: Inspector> {
    cursor: *mut StreamCursor,
    bits: *mut u8,
    payload: &'static Payload,
    off: usize,
    end: usize,
    inspector: *const I,
    denial: Option<I::Denial>,
}

/// One byte of the walk; stops the loop (1) on a denial.
extern "C" fn head_step<I: Inspector>(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `HeadLoop<I>` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs; `inspector`, `cursor` and `bits` point at the
    // walker's inspector and the caller's cursor and bits, as long-lived.
    let (ctx, inspector, cursor, bits) = unsafe {
        let ctx = &mut *ctx.cast::<HeadLoop<I>>();
        let inspector = &*ctx.inspector;
        let (cursor, bits) = (&mut *ctx.cursor, &mut *ctx.bits);
        (ctx, inspector, cursor, bits)
    };
    let bytes = PayloadBytes {
        payload: ctx.payload,
        len: ctx.end,
    };
    let Some([byte]) = bytes.load::<1>(ctx.off + index as usize) else {
        ctx.denial = Some(inspector.unwalkable());
        return 1;
    };
    // The generic step keeps only the head part of the cursor (`ext` is a byte walker's).
    let mut head = cursor.head();
    match stream::step_byte(&mut head, bits, byte, inspector) {
        Ok(_) => {
            cursor.set_head(head);
            0
        }
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
            cursor,
            bits: session,
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
        match ctx.denial {
            Some(d) => Err(d),
            None => Ok(()),
        }
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

/// A direction of a Modbus flow walked one ADU per `bpf_loop` iteration
/// ([`modbus::step_adu`], the step of the host's [`modbus::walk_adus`]) over this CPU's
/// [`PAYLOAD`] copy, whose payload starts at [`modbus::FRONT`]: the client's against its
/// profile, the server's for framing.
pub struct ModbusAdus {
    /// [`Handoff::walk_profile`]: the client's profile index + 1, or [`Self::SERVER`].
    pub profile: u32,
}

impl ModbusAdus {
    /// The server's direction: framing only.
    pub const SERVER: u32 = 0;

    /// The client's direction, judged against the profile at `index` of `MODBUS_PROFILES`.
    #[inline(always)]
    pub const fn client(index: u32) -> u32 {
        index + 1
    }
}

/// One ADU of a Modbus walk; stops the loop (1) when the segment is done or denied. Its
/// context is null: what it reads and writes is in this CPU's [`Handoff`] (see there why).
extern "C" fn adu_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let (Some(h), Some(payload)) = (HANDOFF.get_ptr_mut(0), PAYLOAD.get_ptr(0)) else {
        // The walk stays unfinished: unwalkable.
        return 1;
    };
    // SAFETY: this CPU's values; `walk_segment` reads them only after the loop.
    let (h, payload) = unsafe { (&mut *h, &*payload) };
    let profile = match h.walk_profile {
        ModbusAdus::SERVER => None,
        at => match MODBUS_PROFILES.get(at - 1) {
            Some(p) => Some(p),
            None => return 1,
        },
    };
    // The mask is a no-op (`walk_end <= PAYLOAD_MAX`), there for the verifier.
    let end = h.walk_end as usize & (2 * PAYLOAD_MAX - 1);
    let bytes = PayloadBytes { payload, len: end };
    let mut pos = h.walk_at as usize;
    let step = modbus::step_adu(&bytes, &mut pos, end, &mut h.walk, profile);
    h.walk_at = pos as u32;
    match step {
        Ok(false) => 0,
        Ok(true) => {
            h.walk_state = walk_state::DONE;
            1
        }
        Err(d) => record_denial(h, d),
    }
}

impl Walker for ModbusAdus {
    type Denial = ModbusDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        _off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        _session: &mut u8,
    ) -> Result<(), ModbusDenial> {
        let (Some(buf), Some(h)) = (PAYLOAD.get_ptr_mut(0), HANDOFF.get_ptr_mut(0)) else {
            return Err(modbus::unwalkable());
        };
        if len > PAYLOAD_MAX - modbus::FRONT {
            return Err(modbus::unwalkable());
        }
        // SAFETY: this CPU's buffer; its first FRONT bytes lie in front of the payload the
        // program copied there, free for the held head.
        let front = unsafe { &mut *(buf as *mut [u8; modbus::FRONT]) };
        let Some(start) = modbus::resume(front, len, cursor) else {
            return Ok(());
        };
        // SAFETY: this CPU's hand-over value, valid for the whole run; the loop's step is
        // the only other user while the loop runs.
        let h = unsafe { &mut *h };
        h.walk_at = start as u32;
        h.walk_profile = self.profile;
        h.walk = StreamCursor::START;
        h.walk_state = walk_state::WALKING;
        h.walk_end = (modbus::FRONT + len) as u16;
        // SAFETY: `adu_step` takes no context.
        unsafe {
            bpf_loop(
                MAX_ADUS_PER_SEGMENT as u32,
                adu_step as *mut c_void,
                core::ptr::null_mut(),
                0,
            );
        }
        // SAFETY: as above; the loop is over.
        let h = unsafe { &*(h as *const Handoff) };
        match h.walk_state {
            walk_state::DONE => {
                *cursor = h.walk;
                Ok(())
            }
            walk_state::DENIED => Err(recorded_denial(h)),
            // More ADUs than the walk checks.
            _ => Err(modbus::unwalkable()),
        }
    }
}
