//! EtherNet/IP with CIP (tcp/44818): the inspector program the main program tail-calls
//! through `INSPECTORS` (index `inspector::ENIP`), the generic stream step of
//! [`crate::stream`] with EtherNet/IP's byte walker ([`firewall_common::enip::step`]) run
//! one byte per `bpf_loop` iteration.

use core::ffi::c_void;

use aya_ebpf::{helpers::generated::bpf_loop, macros::xdp, programs::XdpContext};
use firewall_common::{
    enip::{self, EnipCursor, EnipDenial, EnipProfile, EnipViolation},
    packet::PacketBytes,
    reason::Reason,
    stream::{Payload, PayloadBytes, StreamCursor, Walker},
};

use crate::{
    maps::{ENIP_PROFILES, STREAM_START},
    stream::{Protocol, run},
};

/// EtherNet/IP: the client's PDUs against the profile (commands, session, CIP services and
/// classes, also inside Unconnected Send and Multiple Service Packet), the device's for
/// framing and direction.
#[xdp]
pub fn zcfw_enip(ctx: XdpContext) -> u32 {
    run::<Enip>(&ctx)
}

struct Enip;

impl Protocol for Enip {
    type Profile = EnipProfile;
    type Denial = EnipDenial;
    type Opener = EnipLooped;
    type Peer = EnipLooped;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static EnipProfile> {
        ENIP_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(profile: &'static EnipProfile, payload: &'static Payload) -> EnipLooped {
        EnipLooped {
            profile: Some(profile),
            payload,
        }
    }

    #[inline(always)]
    fn peer(payload: &'static Payload) -> EnipLooped {
        EnipLooped {
            profile: None,
            payload,
        }
    }

    #[inline(always)]
    fn pack(d: EnipDenial) -> u64 {
        let (detail, known) = d.packed();
        Reason::of_enip(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

/// EtherNet/IP walked one byte per `bpf_loop` iteration over `payload`: the client's direction
/// with `Some(profile)`, the server's with `None`.
pub struct EnipLooped {
    pub profile: Option<&'static EnipProfile>,
    pub payload: &'static Payload,
}

/// The state an EtherNet/IP byte step sees, on the caller's stack.
struct ByteLoop {
    cursor: EnipCursor,
    bits: u8,
    profile: Option<&'static EnipProfile>,
    payload: &'static Payload,
    off: usize,
    len: usize,
    /// 0, read from a map so the verifier cannot know it ([`EnipCursor::blur`]).
    zero: u8,
    /// The octet read by consume part 0 is left for the next parts.
    pending: bool,
    denial: Option<EnipDenial>,
}

/// Part of a byte of an EtherNet/IP walk: of every `1 + SETTLE_PARTS` iterations the first
/// reads the byte ([`enip::consume`]), the others judge and end what it completed
/// ([`enip::settle`]); stops the loop (1) on a denial.
extern "C" fn enip_step(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `ByteLoop` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs.
    let ctx = unsafe { &mut *ctx.cast::<ByteLoop>() };
    let consume = enip::CONSUME_PARTS as u64;
    let steps = consume + enip::SETTLE_PARTS as u64;
    let part = index % steps;
    let r = if part < consume {
        let bytes = PayloadBytes {
            payload: ctx.payload,
            len: ctx.off + ctx.len,
        };
        let Some([byte]) = bytes.load::<1>(ctx.off + (index / steps) as usize) else {
            ctx.denial = Some(EnipDenial::new(EnipViolation::Malformed));
            return 1;
        };
        // One test of the profile per call: inlined with a known `Some` or `None`, the walker
        // has no path that takes the client's branch at one octet and the server's at the
        // next.
        let part = part as u8;
        let pending = &mut ctx.pending;
        match ctx.profile {
            Some(p) => enip::consume(&mut ctx.cursor, &mut ctx.bits, byte, Some(p), part, pending),
            None => enip::consume(&mut ctx.cursor, &mut ctx.bits, byte, None, part, pending),
        }
    } else {
        let part = (part - consume) as u8;
        match ctx.profile {
            Some(p) => enip::settle(&mut ctx.cursor, Some(p), part).map(|_| ()),
            None => enip::settle(&mut ctx.cursor, None, part).map(|_| ()),
        }
    };
    match r {
        Ok(()) => {
            ctx.cursor.blur(ctx.zero);
            ctx.bits ^= ctx.zero;
            0
        }
        Err(d) => {
            ctx.denial = Some(d);
            1
        }
    }
}

impl Walker for EnipLooped {
    type Denial = EnipDenial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), EnipDenial> {
        if len > enip::MAX_SEGMENT_BYTES {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        }
        // Never written: 0, and unknown to the verifier (no constant on a path where the
        // lookup fails: the segment is denied there).
        let Some(zero) = STREAM_START.get(0).map(|s| s.sides[0].synced) else {
            return Err(EnipDenial::new(EnipViolation::Malformed));
        };
        let state = enip::cursor_in(cursor);
        let mut ctx = ByteLoop {
            cursor: *state,
            bits: *session,
            profile: self.profile,
            payload: self.payload,
            off,
            len,
            // Never written: 0.
            zero,
            pending: false,
            denial: None,
        };
        // SAFETY: `enip_step` is the callback for this context type; `ctx` lives on this
        // stack frame for the whole call.
        unsafe {
            bpf_loop(
                (enip::CONSUME_PARTS + enip::SETTLE_PARTS) as u32 * len as u32,
                enip_step as *mut c_void,
                (&mut ctx as *mut ByteLoop).cast(),
                0,
            );
        }
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        *state = ctx.cursor;
        *session = ctx.bits;
        Ok(())
    }
}
