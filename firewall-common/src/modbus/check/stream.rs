//! Modbus on the stream position of [`crate::stream`]: the same per-ADU checks as
//! [`check_request`] and [`check_response`], judged on an ADU's head as soon as its decisive
//! bytes are seen, so an ADU split across segments is judged where its head completes and
//! its tail passes in whatever segments carry it. Walked ADU by ADU ([`walk_adus`]), not
//! byte by byte: the checks verify once per ADU of a bounded loop, as in the main program.

use super::*;

/// Bytes of function data that decide a request of function `fc` for [`check_request`]
/// (addresses, quantities, byte counts, the sub-function or MEI type); the rest of the ADU
/// is data no check reads.
#[inline(always)]
const fn decisive_data(fc: u8) -> usize {
    use function::*;
    match fc {
        READ_COILS
        | READ_DISCRETE_INPUTS
        | READ_HOLDING_REGISTERS
        | READ_INPUT_REGISTERS
        | WRITE_SINGLE_COIL
        | WRITE_SINGLE_REGISTER => 4,
        MASK_WRITE_REGISTER => 6,
        READ_FIFO_QUEUE | DIAGNOSTICS => 2,
        WRITE_MULTIPLE_COILS | WRITE_MULTIPLE_REGISTERS => 5,
        READ_WRITE_MULTIPLE_REGISTERS => 9,
        ENCAPSULATED_INTERFACE_TRANSPORT => 3,
        READ_FILE_RECORD | WRITE_FILE_RECORD => 1,
        _ => 0,
    }
}

/// What is known of the ADU at `off` with `avail` of its bytes present.
enum Head {
    /// The MBAP header and function code are not all there yet.
    Need,
    /// Its MBAP header and function code; the ADU is `.1` bytes long.
    Adu(Adu, usize),
}

/// Reads the MBAP header and function code of the ADU at `off` once they are all there,
/// checking the protocol id and length as [`check_request`]'s framing walk does.
#[inline(always)]
fn head_at<B: PacketBytes + ?Sized>(b: &B, off: usize, avail: usize) -> Result<Head, ModbusDenial> {
    let mut d = ModbusDenial::new(ModbusViolation::Malformed, 0);
    if avail < MIN_ADU_LEN {
        return Ok(Head::Need);
    }
    let h = b.load::<MIN_ADU_LEN>(off).ok_or(d)?;
    d.set_unit(h[6]);
    d.set_function(h[7]);
    let length = be16(h[4], h[5]);
    if be16(h[2], h[3]) != 0 || !(MIN_MBAP_LENGTH..=MAX_MBAP_LENGTH).contains(&length) {
        return Err(d);
    }
    let adu = Adu {
        data: off + MIN_ADU_LEN,
        data_len: length as usize - 2,
        unit: h[6],
        function: h[7],
        denial: d,
    };
    Ok(Head::Adu(adu, 6 + length as usize))
}

/// Bytes in front of a segment's payload in the buffer [`walk_adus`] reads: room for the
/// head bytes a cursor held from earlier segments (at most [`crate::stream::HELD_MAX`]).
pub const FRONT: usize = crate::stream::HELD_MAX;

/// Starts the walk of a segment of `len` payload bytes placed at [`FRONT`] in a buffer whose
/// first [`FRONT`] bytes are `front`: passes the tail of an ADU `cursor` skips, or places the
/// head bytes it held in front of the payload. Returns where [`walk_adus`] starts, or `None`
/// when the whole segment is tail (`cursor` then skips less).
#[inline(always)]
pub fn resume(
    front: &mut [u8; FRONT],
    len: usize,
    cursor: &mut crate::stream::StreamCursor,
) -> Option<usize> {
    let skip = cursor.skip as usize;
    if skip >= len {
        cursor.skip = (skip - len) as u16;
        return None;
    }
    let held = cursor.held_len as usize;
    if held == 0 {
        return Some(FRONT + skip);
    }
    // A held head and a tail to skip never come together.
    // `hold` never keeps more; the clamp is for the verifier.
    let held = if held > FRONT { FRONT } else { held };
    for i in 0..FRONT {
        // The index read through a volatile load: the compiler then cannot unroll the copy
        // into sixteen constant-index reads of `cursor`, which would split a caller's cursor
        // into registers and spill every byte on the eBPF stack. The masks are no-ops after
        // the checks, there for the verifier.
        // SAFETY: a read of a local.
        let at = unsafe { core::ptr::read_volatile(&i) } & (FRONT - 1);
        if at >= held {
            break;
        }
        front[(FRONT - held + at) & (FRONT - 1)] = cursor.held[at];
    }
    Some(FRONT - held)
}

/// Walks the ADUs of one direction's stream in `b[start..end]`, which starts on an ADU
/// boundary (the caller placed the head bytes `cursor` held in front of the segment's
/// payload and passed the tail it skips): every ADU whose decisive head is there is checked
/// as [`check_request`] (`profile`) or [`check_response`] (`None`) check it; an ADU that runs
/// past `end` leaves `cursor` skipping its tail, and a head cut short is held in `cursor`.
/// Whatever the cuts between segments, the decisions are those [`check_request`] takes on
/// the whole stream (tested). At most [`MAX_ADUS_PER_SEGMENT`] ADUs a segment (more cannot
/// be walked). The XDP program runs the same [`step_adu`] under `bpf_loop`.
#[inline(always)]
pub fn walk_adus<B: PacketBytes + ?Sized>(
    b: &B,
    start: usize,
    end: usize,
    cursor: &mut crate::stream::StreamCursor,
    profile: Option<&ModbusProfile>,
) -> Result<(), ModbusDenial> {
    let mut pos = start;
    cursor.skip = 0;
    cursor.held_len = 0;
    for _ in 0..MAX_ADUS_PER_SEGMENT {
        if step_adu(b, &mut pos, end, cursor, profile)? {
            return Ok(());
        }
    }
    if pos < end {
        return Err(unwalkable());
    }
    Ok(())
}

/// One ADU of [`walk_adus`] at `pos`: `Ok(true)` when the walk of the segment is done
/// (its end reached, a tail to skip or a head held in `cursor`), `Ok(false)` with `pos` on
/// the next ADU.
#[inline(always)]
pub fn step_adu<B: PacketBytes + ?Sized>(
    b: &B,
    pos: &mut usize,
    end: usize,
    cursor: &mut crate::stream::StreamCursor,
    profile: Option<&ModbusProfile>,
) -> Result<bool, ModbusDenial> {
    let at = *pos;
    let rest = end.saturating_sub(at);
    if rest == 0 {
        return Ok(true);
    }
    let (adu, len) = match head_at(b, at, rest)? {
        Head::Need => {
            hold(b, at, rest, cursor)?;
            return Ok(true);
        }
        Head::Adu(adu, len) => (adu, len),
    };
    match profile {
        Some(profile) => {
            // The unit id and function are decided by the head alone: a function the
            // profile refuses is denied in the segment that carries its code.
            check_request_function(&adu, profile)?;
            let decisive = decisive_data(adu.function);
            let need = MIN_ADU_LEN
                + if decisive < adu.data_len {
                    decisive
                } else {
                    adu.data_len
                };
            if rest < need {
                hold(b, at, rest, cursor)?;
                return Ok(true);
            }
            check_request_adu(b, &adu, profile)?;
        }
        None => check_response_adu(&adu)?,
    }
    if len >= rest {
        cursor.skip = (len - rest) as u16;
        return Ok(true);
    }
    *pos = at + len;
    Ok(false)
}

/// Keeps the `rest` bytes at `pos` (a head not yet decisive, fewer than
/// [`crate::stream::HELD_MAX`]) in `cursor`.
#[inline(always)]
fn hold<B: PacketBytes + ?Sized>(
    b: &B,
    pos: usize,
    rest: usize,
    cursor: &mut crate::stream::StreamCursor,
) -> Result<(), ModbusDenial> {
    let malformed = ModbusDenial::new(ModbusViolation::Malformed, 0);
    if rest > crate::stream::HELD_MAX {
        return Err(malformed);
    }
    for i in 0..crate::stream::HELD_MAX {
        // The index read through a volatile load (and masked, a no-op): the compiler cannot
        // then fold the loop's constant bound into `i != rest`, which the verifier could not
        // bound (it does not know `rest <= HELD_MAX` there) and would walk to the buffer's end.
        // SAFETY: a read of a local.
        let at = unsafe { core::ptr::read_volatile(&i) } & (crate::stream::HELD_MAX - 1);
        if at >= rest {
            break;
        }
        let [byte] = b.load::<1>(pos + at).ok_or(malformed)?;
        cursor.held[at] = byte;
    }
    cursor.held_len = rest as u8;
    Ok(())
}

/// The denial of a segment [`walk_adus`] cannot walk (longer than the walk buffer holds).
#[inline(always)]
pub const fn unwalkable() -> ModbusDenial {
    ModbusDenial::new(ModbusViolation::Malformed, 0)
}
