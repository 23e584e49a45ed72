//! The 28-byte Address of `docs/kwasm_net.md`, byte by byte: family u16 at
//! 0, port u16 (host order) at 2, flow info u32 at 4, address bytes in
//! network order at 8, scope id u32 at 24, all little-endian.

use kwasm_net::Address;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

#[test]
fn ipv4_layout() {
    let addr = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 8080));
    let mut want = [0u8; 28];
    want[0..2].copy_from_slice(&[4, 0]);
    want[2..4].copy_from_slice(&[0x90, 0x1f]); // 8080 = 0x1f90
    want[8..12].copy_from_slice(&[192, 0, 2, 1]);
    let encoded = Address::from(addr);
    assert_eq!(encoded.as_bytes(), &want);
    assert_eq!(SocketAddr::try_from(encoded).unwrap(), addr);
}

#[test]
fn ipv6_layout() {
    let ip: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
    let addr = SocketAddr::from(SocketAddrV6::new(ip, 443, 0x0102_0304, 7));
    let mut want = [0u8; 28];
    want[0..2].copy_from_slice(&[6, 0]);
    want[2..4].copy_from_slice(&[0xbb, 0x01]); // 443 = 0x01bb
    want[4..8].copy_from_slice(&[4, 3, 2, 1]);
    want[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
    want[24..28].copy_from_slice(&[7, 0, 0, 0]);
    let encoded = Address::from(addr);
    assert_eq!(encoded.as_bytes(), &want);
    assert_eq!(SocketAddr::try_from(encoded).unwrap(), addr);
}

#[test]
fn round_trips() {
    for s in [
        "0.0.0.0:0",
        "127.0.0.1:7000",
        "255.255.255.255:65535",
        "[::]:0",
        "[::1]:8080",
        "[fe80::1%3]:1",
    ] {
        let addr: SocketAddr = s.parse().unwrap();
        let encoded = Address::from(addr);
        assert_eq!(SocketAddr::try_from(encoded).unwrap(), addr, "{s}");
        assert_eq!(Address::from_bytes(*encoded.as_bytes()), encoded, "{s}");
    }
}

#[test]
fn ipv4_ignores_v6_fields_and_trailing_bytes() {
    // An IPv4 address reads only the first 4 address bytes.
    let mut bytes = [0xffu8; 28];
    bytes[0..2].copy_from_slice(&4u16.to_le_bytes());
    bytes[2..4].copy_from_slice(&80u16.to_le_bytes());
    bytes[8..12].copy_from_slice(&[10, 1, 2, 3]);
    let addr = SocketAddr::try_from(Address::from_bytes(bytes)).unwrap();
    assert_eq!(addr, "10.1.2.3:80".parse::<SocketAddr>().unwrap());
}

#[test]
fn unknown_family_is_invalid_data() {
    for family in [0u16, 2, 5, 10, 0xffff] {
        let mut bytes = [0u8; 28];
        bytes[0..2].copy_from_slice(&family.to_le_bytes());
        let err = SocketAddr::try_from(Address::from_bytes(bytes)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "family {family}");
    }
}
