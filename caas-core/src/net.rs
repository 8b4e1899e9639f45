//! Which network addresses the platform may connect to on a tenant's behalf.
//!
//! Whenever a tenant supplies something the platform then connects to — a webhook URL, a
//! domain whose HTTP verification answer is fetched — the address it resolves to must be a
//! public one: otherwise a tenant could make the platform reach its own loopback services,
//! the cloud's metadata endpoint or another tenant's private network and read the answer.
//! [`is_public`] is that one policy, shared by every such client.
//!
//! Refused: "this network" 0.0.0.0/8, loopback, RFC 1918 private ranges, carrier-grade NAT
//! 100.64.0.0/10 (also where cloud metadata such as 100.100.100.200 lives), link-local
//! (169.254.0.0/16 with the usual metadata address 169.254.169.254), IETF protocol
//! assignments 192.0.0.0/24, the documentation ranges, the benchmarking range 198.18.0.0/15,
//! multicast, the reserved 240.0.0.0/4 and broadcast; for IPv6 the unspecified and loopback
//! addresses, IPv4-mapped and IPv4-compatible addresses, NAT64 (64:ff9b::/96 and the
//! local-use 64:ff9b:1::/48), discard-only 100::/64, Teredo 2001::/32, the benchmarking
//! 2001:2::/48, ORCHID 2001:10::/28 and 2001:20::/28, documentation 2001:db8::/32 and
//! 3fff::/20, 6to4 2002::/16, unique-local fc00::/7 (fd00:ec2::254 among them), link-local
//! fe80::/10, site-local fec0::/10 and multicast. Addresses that embed an IPv4 address
//! (mapped, NAT64, 6to4, Teredo) are refused outright rather than judged by the embedded
//! address, since the path they take is the gateway's, not the tenant's.

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;

/// The ranges [`is_public`] refuses (see the module documentation).
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "::/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/32",
        "2001:2::/48",
        "2001:10::/28",
        "2001:20::/28",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|r| r.parse().ok())
    .collect()
});

/// Whether the platform may connect to `ip` on a tenant's behalf: `false` for every
/// loopback, private, link-local, shared, benchmarking, documentation, metadata,
/// translated (IPv4-mapped, NAT64, 6to4, Teredo), multicast, reserved and unspecified
/// address.
pub fn is_public(ip: IpAddr) -> bool {
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }

    #[test]
    fn every_range_parses() {
        assert_eq!(NOT_PUBLIC.len(), 33);
    }

    #[test]
    fn private_special_and_translated_addresses_are_refused() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.100.100.200",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.170",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(a)), "{a} must not count as public");
        }
    }

    #[test]
    fn ordinary_internet_addresses_are_public() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(is_public(ip(a)), "{a} is a public address");
        }
    }
}
