//! DNP3 link frames with correct CRCs, as masters send them (for the parser's tests, the
//! verdict tests and the dataplane bench).

use alloc::{vec, vec::Vec};

use crate::dnp3::{BLOCK_LEN, crc_of};

/// Class 0 data object header (group 60 variation 1, all objects): the body of a class 0
/// poll, `request(1, outstation, FIR | FIN, &CLASS0)`.
pub const CLASS0: [u8; 3] = [0x3C, 0x01, 0x06];

/// A link frame: header with CRC, then `data` in 16-byte blocks each with its CRC.
pub fn frame(control: u8, destination: u16, source: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x05, 0x64, (5 + data.len()) as u8, control];
    f.extend(destination.to_le_bytes());
    f.extend(source.to_le_bytes());
    f.extend(crc_of(&f).to_le_bytes());
    for block in data.chunks(BLOCK_LEN) {
        f.extend(block);
        f.extend(crc_of(block).to_le_bytes());
    }
    f
}

/// An unconfirmed user-data frame from master 1 to `destination`: transport `t`,
/// application control FIR|FIN, function `function`, then `objects`.
pub fn request(function: u8, destination: u16, t: u8, objects: &[u8]) -> Vec<u8> {
    let mut data = vec![t, 0xC0, function];
    data.extend(objects);
    frame(0xC4, destination, 1, &data)
}
