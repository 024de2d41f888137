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
    modbus::{self, MAX_ADUS_PER_SEGMENT, ModbusDenial, ModbusProfile},
    packet::PacketBytes,
    stream::{self, Inspector, PAYLOAD_MAX, Payload, PayloadBytes, StreamCursor, Walker},
};

use crate::maps::{HANDOFF, PAYLOAD};

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
    match stream::step_byte(cursor, bits, byte, inspector) {
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
/// [`PAYLOAD`] copy, whose payload starts at [`modbus::FRONT`]: the client's against
/// `Some(profile)`, the server's for framing.
pub struct ModbusAdus {
    pub profile: Option<&'static ModbusProfile>,
}

/// The state an ADU step sees, on the caller's stack.
struct AduLoop {
    /// This CPU's [`firewall_common::maps::Handoff::walk`]: the cursor being walked.
    cursor: *mut StreamCursor,
    profile: Option<&'static ModbusProfile>,
    payload: &'static Payload,
    /// This CPU's [`firewall_common::maps::Handoff::walk_at`]: the next ADU's offset.
    pos: *mut u32,
    end: usize,
    done: bool,
    denial: Option<ModbusDenial>,
}

/// One ADU of a Modbus walk; stops the loop (1) when the segment is done or denied.
extern "C" fn adu_step(_index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `AduLoop` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs; `cursor` points at the caller's cursor.
    // `pos` points at this CPU's hand-over value.
    let (ctx, cursor, walk_at) = unsafe {
        let ctx = &mut *ctx.cast::<AduLoop>();
        let cursor = &mut *ctx.cursor;
        let walk_at = &mut *ctx.pos;
        (ctx, cursor, walk_at)
    };
    let bytes = PayloadBytes {
        payload: ctx.payload,
        len: ctx.end,
    };
    let mut pos = *walk_at as usize;
    let step = modbus::step_adu(&bytes, &mut pos, ctx.end, cursor, ctx.profile);
    *walk_at = pos as u32;
    match step {
        Ok(false) => 0,
        Ok(true) => {
            ctx.done = true;
            1
        }
        Err(d) => {
            ctx.denial = Some(d);
            1
        }
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
        // SAFETY: this CPU's hand-over value, valid for the whole run.
        let (pos, walk) = unsafe {
            (
                core::ptr::addr_of_mut!((*h).walk_at),
                core::ptr::addr_of_mut!((*h).walk),
            )
        };
        // SAFETY: as above.
        unsafe {
            *pos = start as u32;
            *walk = StreamCursor::START;
        }
        let mut ctx = AduLoop {
            cursor: walk,
            profile: self.profile,
            // SAFETY: as above; only read from here on.
            payload: unsafe { &*buf },
            pos,
            end: modbus::FRONT + len,
            done: false,
            denial: None,
        };
        // SAFETY: `adu_step` is the callback for this context type; `ctx` lives on this
        // stack frame for the whole call.
        unsafe {
            bpf_loop(
                MAX_ADUS_PER_SEGMENT as u32,
                adu_step as *mut c_void,
                (&mut ctx as *mut AduLoop).cast(),
                0,
            );
        }
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        // SAFETY: as above.
        *cursor = unsafe { *walk };
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        // SAFETY: as above.
        *cursor = unsafe { *walk };
        match ctx.denial {
            Some(d) => Err(d),
            // More ADUs than the walk checks.
            // SAFETY: as above.
            None if !ctx.done && (unsafe { *pos } as usize) < ctx.end => Err(modbus::unwalkable()),
            None => Ok(()),
        }
    }
}
