//! Which IP addresses a media download may connect to: public unicast only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is refused as a download target, or `None` when it is a public unicast address.
///
/// Refused: unspecified (`0.0.0.0/8`, `::`), loopback (`127/8`, `::1`), private (RFC 1918
/// `10/8`, `172.16/12`, `192.168/16`; IPv6 unique local `fc00::/7` and the old site-local
/// `fec0::/10`), shared address space (CGNAT `100.64/10`), link-local (`169.254/16`, which holds
/// the cloud metadata address `169.254.169.254`; `fe80::/10`), multicast (`224/4`, `ff00::/8`),
/// reserved and broadcast (`240/4`, `255.255.255.255`), the IETF block `192.0.0/24`, and every
/// IPv6 form that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) whose IPv4 address is refused.
pub fn refused_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "an unspecified address",
        (127, _) => "a loopback address",
        (10, _) | (192, 168) => "a private address",
        (172, b) if (16..32).contains(&b) => "a private address",
        (100, b) if (64..128).contains(&b) => "a shared (CGNAT) address",
        (169, 254) => "a link-local address",
        (192, 0) if ip.octets()[2] == 0 => "an IETF protocol address",
        (a, _) if (224..240).contains(&a) => "a multicast address",
        (a, _) if a >= 240 => "a reserved or broadcast address",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if let Some(v4) = embedded_v4(ip) {
        return refused_v4(v4);
    }
    let first = ip.segments()[0];
    Some(match first {
        f if f & 0xfe00 == 0xfc00 => "a private (unique local) address",
        f if f & 0xffc0 == 0xfe80 => "a link-local address",
        f if f & 0xffc0 == 0xfec0 => "a private (site-local) address",
        f if f & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`)
/// or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] {
        // IPv4-compatible (`::a.b.c.d`); `::` and `::1` were handled before.
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refused_reason;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for refused in [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "192.0.0.170",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            let ip = refused.parse().unwrap();
            assert!(refused_reason(ip).is_some(), "{refused} must be refused");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.0.1",
            "172.32.0.1",
            "100.63.0.1",
            "100.128.0.1",
            "192.0.2.1",
            "54.172.60.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            let ip = public.parse().unwrap();
            assert_eq!(refused_reason(ip), None, "{public} must pass");
        }
    }
}
