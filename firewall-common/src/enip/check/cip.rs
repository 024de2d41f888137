//! CIP requests in the data item: service, request path, and the requests nested in
//! Unconnected Send and Multiple Service Packet, judged against the profile.

use super::*;
use crate::enip::services::command;

/// The service octet and path size of a request (a reply's service octet, from the server).
#[inline(always)]
pub(super) fn cip(
    c: &mut EnipCursor,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.at == 0 {
        let reply = byte & service::REPLY != 0;
        if reply != profile.is_none() {
            return Err(EnipDenial::code(EnipViolation::Direction, byte));
        }
        if profile.is_none() {
            // The rest of a reply is not walked, but for the connection id a Forward_Open
            // reply hands out ([`opened`]).
            let open = byte == service::FORWARD_OPEN | service::REPLY
                || byte == service::LARGE_FORWARD_OPEN | service::REPLY;
            c.phase = if open && c.command == command::SEND_RR_DATA && c.depth() == 0 {
                c.at = 1;
                phase::OPENED
            } else {
                phase::ITEM_SKIP
            };
            return Ok(());
        }
        c.service = byte;
        c.at = 1;
        return Ok(());
    }
    if byte > MAX_PATH_WORDS || byte as u16 * 2 > c.level_left() {
        return Err(malformed);
    }
    c.path_left = byte * 2;
    c.flags &= !(cursor_flags::CLASS | cursor_flags::SYMBOLIC | cursor_flags::CLASS_SEGMENT);
    c.seg = 0;
    c.at = 0;
    c.acc = 0;
    c.phase = phase::PATH;
    if byte == 0 && profile.is_some() {
        c.flags |= cursor_flags::JUDGE;
    }
    Ok(())
}

/// An octet of a request path: logical segments (class, instance, member, connection
/// point, attribute; 8 or 16 bits, 32 bits but for the class; the electronic key) and ANSI
/// extended symbolic segments. Judges the request at the path's end.
#[inline(always)]
pub(super) fn path(
    c: &mut EnipCursor,
    byte: u8,
    profile: Option<&EnipProfile>,
) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.path_left == 0 {
        return Err(malformed);
    }
    c.path_left -= 1;
    match c.seg {
        0 => {
            c.flags &= !cursor_flags::CLASS_SEGMENT;
            match byte {
                0x20..=0x3F => {
                    let format = byte & 3;
                    let logical = (byte >> 2) & 7;
                    let len = match format {
                        0 => 1,
                        1 => 3,
                        2 => 5,
                        _ => return Err(malformed),
                    };
                    match logical {
                        // Class: one per path, 8 or 16 bits.
                        0 => {
                            if c.flags & cursor_flags::CLASS != 0 || format == 2 {
                                return Err(malformed);
                            }
                            c.flags |= cursor_flags::CLASS | cursor_flags::CLASS_SEGMENT;
                            c.acc = 0;
                            c.at = len;
                        }
                        // Instance, member, connection point, attribute.
                        1..=4 => c.at = len,
                        // Special: the electronic key (format octet 4 and 8 octets).
                        5 => {
                            if byte != 0x34 {
                                return Err(malformed);
                            }
                            c.at = 9;
                        }
                        _ => return Err(malformed),
                    }
                    c.seg = byte;
                }
                SEG_SYMBOL_LEN => {
                    c.flags |= cursor_flags::SYMBOLIC;
                    c.seg = SEG_SYMBOL_LEN;
                }
                _ => return Err(malformed),
            }
        }
        SEG_SYMBOL_LEN => {
            // The name and a pad octet when its length is odd.
            let len = byte as u16 + (byte & 1) as u16;
            if byte == 0 || len > c.path_left as u16 {
                return Err(malformed);
            }
            c.at = len as u8;
            c.seg = SEG_SYMBOL;
        }
        _ => {
            if c.at == 0 {
                return Err(malformed);
            }
            c.at -= 1;
            if c.flags & cursor_flags::CLASS_SEGMENT != 0 {
                // 8 bits: the value; 16 bits: pad, low, high.
                if c.seg & 3 == 0 || c.at == 1 {
                    c.acc = byte as u16;
                } else if c.at == 0 {
                    c.acc |= (byte as u16) << 8;
                }
            }
            if c.at == 0 {
                c.seg = 0;
            }
        }
    }
    if c.path_left == 0 {
        if c.seg != 0 {
            return Err(malformed);
        }
        if profile.is_some() {
            c.flags |= cursor_flags::JUDGE;
        }
    }
    Ok(())
}

/// A client's request whose path was read: its service on its target, its class, and what
/// follows (a container's requests, or data).
#[inline(always)]
pub(super) fn judge(c: &mut EnipCursor, profile: &EnipProfile) -> Result<(), EnipDenial> {
    let class = if c.flags & cursor_flags::CLASS != 0 {
        Some(c.acc)
    } else {
        None
    };
    let symbolic = c.flags & cursor_flags::SYMBOLIC != 0;
    let target = Target::of(class, symbolic);
    let service = c.service;
    let depth = c.depth();
    let denial = |kind| EnipDenial {
        kind,
        known: detail::CODE | detail::SCOPE | if class.is_some() { detail::ADDRESS } else { 0 },
        scope: depth,
        code: service,
        address: class.unwrap_or_default(),
    };
    if !profile.allows_service(service, target) {
        return Err(denial(EnipViolation::Service));
    }
    let container = if service == service::UNCONNECTED_SEND && target == Target::ConnectionManager {
        kind::UNCONNECTED
    } else if service == service::MULTIPLE_SERVICE_PACKET {
        kind::MULTIPLE
    } else {
        0
    };
    if container == 0 && !profile.allows_class(class, symbolic) {
        return Err(denial(EnipViolation::Class));
    }
    c.at = 0;
    if container == 0 {
        c.phase = phase::DATA;
        return Ok(());
    }
    if depth + 1 >= LEVELS {
        // Nested deeper than the walker follows.
        return Err(denial(EnipViolation::Service));
    }
    // The container kind of this level.
    c.set_container(depth, container);
    c.phase = if container == kind::UNCONNECTED {
        phase::UNCONNECTED
    } else {
        phase::MULTIPLE
    };
    Ok(())
}

/// Starts a request of `len` octets one level deeper.
#[inline(always)]
pub(super) fn push(c: &mut EnipCursor, len: u16) -> Result<(), EnipDenial> {
    let depth = c.depth();
    if len < 2 || len > c.level_left() {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    match depth {
        0 => c.left[0] = len,
        _ => c.left[1] = len,
    }
    c.nest = (c.nest & !3) | (depth + 1);
    c.phase = phase::CIP;
    c.at = 0;
    Ok(())
}

/// An octet of Unconnected Send's head: priority, timeout ticks, embedded request size.
#[inline(always)]
pub(super) fn unconnected(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let at = c.at;
    match at {
        0 | 1 => {}
        2 => c.acc = byte as u16,
        _ => return push(c, c.acc | (byte as u16) << 8),
    }
    c.at = at + 1;
    Ok(())
}

/// An octet of a Multiple Service Packet's head: the count, then an offset per service
/// (from the count), which must put the services one after the other, each at least a
/// service octet and a path size long.
#[inline(always)]
pub(super) fn multiple(c: &mut EnipCursor, byte: u8) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    let at = c.at;
    // Octets of the container read (with this one) and left.
    let read = at as u32 + 1;
    let left = c.level_left() as u32;
    let total = read + left;
    if at == 0 {
        c.acc = byte as u16;
        c.at = 1;
        return Ok(());
    }
    if at == 1 {
        let n = c.acc | (byte as u16) << 8;
        if n == 0 || n > MSP_MAX as u16 || total < 4 * n as u32 + 2 {
            return Err(malformed);
        }
        c.msp = n as u8;
        c.at = 2;
        return Ok(());
    }
    if at & 1 == 0 {
        c.acc = byte as u16;
        c.at = at + 1;
        return Ok(());
    }
    let n = (c.msp & 0x0F) as u32;
    let k = ((at - 2) / 2) as u32;
    let offset = (c.acc | (byte as u16) << 8) as u32;
    let table = 2 + 2 * n;
    if k == 0 {
        if offset != table {
            return Err(malformed);
        }
    } else {
        // Where service k - 1 started (the previous offset): at least 2 octets before.
        let previous = if k == 1 {
            table
        } else {
            total - c.bounds[MSP_MAX as usize - 1] as u32
        };
        if offset < previous + 2 || offset + 2 > total {
            return Err(malformed);
        }
        c.push_bound((total - offset) as u16);
    }
    if k + 1 < n {
        c.at = at + 1;
        return Ok(());
    }
    // The table is read: the n - 1 bounds are the last of the queue; to its front.
    let mut moves = MSP_MAX - (n as u8 - 1);
    for _ in 0..MSP_MAX {
        if moves > 0 {
            c.shift_bounds();
            moves -= 1;
        }
    }
    c.msp = n as u8;
    next_service(c)
}

/// Starts service `i` (the high nibble of [`EnipCursor::msp`]) of the Multiple Service
/// Packet at the current level: up to the next service's start, or to the container's end.
#[inline(always)]
pub(super) fn next_service(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let n = c.msp & 0x0F;
    let i = c.msp >> 4;
    let left = c.level_left();
    // The next service's bound is the queue's front.
    let next = if i + 1 < n { c.bounds[0] } else { 0 };
    c.shift_bounds();
    if next > left {
        return Err(EnipDenial::new(EnipViolation::Malformed));
    }
    push(c, left - next)
}

/// The request at the current level ended: it must have been read whole; the level above
/// goes on (the rest of an Unconnected Send, the next service of a Multiple Service
/// Packet).
#[inline(always)]
pub(super) fn end_request(c: &mut EnipCursor) -> Result<(), EnipDenial> {
    let malformed = EnipDenial::new(EnipViolation::Malformed);
    if c.phase != phase::DATA {
        return Err(malformed);
    }
    let depth = c.depth();
    if depth == 0 {
        return Err(malformed);
    }
    let parent = depth - 1;
    c.nest = (c.nest & !3) | parent;
    let container = c.container(parent);
    c.phase = phase::DATA;
    c.at = 0;
    if container == kind::MULTIPLE {
        let n = c.msp & 0x0F;
        let i = (c.msp >> 4) + 1;
        c.msp = (i & 0x0F) << 4 | n;
        if i < n {
            return next_service(c);
        }
    }
    Ok(())
}

/// An octet of a Forward_Open (or Large_Forward_Open) reply after its service: reserved,
/// general status, additional status size, then the O→T connection id (4 octets, little
/// endian, gathered in [`EnipCursor::left`]), which a status of 0 opens in `conns`. A reply
/// with an error is not read further.
#[inline(always)]
pub(super) fn opened(c: &mut EnipCursor, byte: u8, conns: &mut EnipConnections) {
    let at = c.at;
    match at {
        1 => {}
        2 | 3 => {
            if byte != 0 {
                // An error, or additional status: no connection.
                c.phase = phase::ITEM_SKIP;
                c.at = 0;
                return;
            }
        }
        4 => c.left = [byte as u16, 0],
        5 => c.left[0] |= (byte as u16) << 8,
        6 => c.left[1] = byte as u16,
        _ => {
            let id = c.left[0] as u32 | ((c.left[1] | (byte as u16) << 8) as u32) << 16;
            conns.open(id);
            c.left = [0, 0];
            c.phase = phase::ITEM_SKIP;
            c.at = 0;
            return;
        }
    }
    c.at = at + 1;
}
