//! IP address blocks as Docker network IPAM settings name them (`Subnet`, `IPRange`,
//! `Gateway`, `AuxiliaryAddresses`), and the host's own ranges a tenant network must
//! not shadow.

/// An address block: an IPv4 (IPv4-mapped IPv6 included) or IPv6 address and a prefix
/// length; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    v4: bool,
    bits: u128,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = addr.trim().parse().ok()?;
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        let (v4, bits, width) = match ip {
            std::net::IpAddr::V4(a) => (true, u128::from(u32::from(a)), 32),
            std::net::IpAddr::V6(a) => (false, u128::from(a), 128),
        };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&n| n <= width)?
            }
            Some(_) => return None,
            None => width,
        };
        Some(Cidr { v4, bits, prefix })
    }

    fn width(&self) -> u8 {
        if self.v4 {
            32
        } else {
            128
        }
    }

    fn masked(&self, prefix: u8) -> u128 {
        let host_bits = u32::from(self.width() - prefix);
        if host_bits >= 128 {
            0
        } else {
            self.bits >> host_bits
        }
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let p = self.prefix.min(other.prefix);
        self.v4 == other.v4 && self.masked(p) == other.masked(p)
    }

    /// Whether every address of `self` is in `outer`.
    pub fn within(&self, outer: &Cidr) -> bool {
        self.v4 == outer.v4
            && self.prefix >= outer.prefix
            && self.masked(outer.prefix) == outer.masked(outer.prefix)
    }
}

/// The host's own address ranges, parsed once, each with its text.
pub fn host_ranges() -> &'static [(Cidr, &'static str)] {
    static PARSED: std::sync::OnceLock<Vec<(Cidr, &'static str)>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        HOST_RANGES
            .iter()
            .map(|r| (Cidr::parse(r).expect("a valid built-in range"), *r))
            .collect()
    })
}

/// The host's own address ranges: a network for one of them shadows the host's route.
pub const HOST_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
    // Cloud metadata and platform endpoints outside link-local: Azure's WireServer,
    // Alibaba's metadata service, AWS's IPv6 metadata endpoint.
    "168.63.129.16/32",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
];

/// dockerd's default address pools for local networks (libnetwork `ipamutils`,
/// 20.10: 172.17.0.0/16 to 172.31.0.0/16 as /16s, 192.168.0.0/16 as /20s), as CIDR
/// blocks: what it hands out when a bridge is created without a subnet.
pub const DEFAULT_LOCAL_POOLS: &[&str] = &[
    "172.17.0.0/16",
    "172.18.0.0/15",
    "172.20.0.0/14",
    "172.24.0.0/13",
    "192.168.0.0/16",
];

/// Swarm's default address pool for overlay networks (`10.0.0.0/8` as /24s).
pub const DEFAULT_GLOBAL_POOLS: &[&str] = &["10.0.0.0/8"];

/// The blocks a new network's explicit addresses must lie in when the policy sets no
/// `networks.subnet_allowlist`: the daemon's default pools for the driver.
pub fn default_pools(driver: &str) -> &'static [Cidr] {
    static LOCAL: std::sync::OnceLock<Vec<Cidr>> = std::sync::OnceLock::new();
    static GLOBAL: std::sync::OnceLock<Vec<Cidr>> = std::sync::OnceLock::new();
    let (cell, list) = if driver == "overlay" {
        (&GLOBAL, DEFAULT_GLOBAL_POOLS)
    } else {
        (&LOCAL, DEFAULT_LOCAL_POOLS)
    };
    cell.get_or_init(|| {
        list.iter()
            .map(|r| Cidr::parse(r).expect("a valid built-in pool"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks_overlap_and_nest() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert!(c("169.254.169.252/30").overlaps(&c("169.254.0.0/16")));
        assert!(c("160.0.0.0/4").overlaps(&c("169.254.0.0/16")));
        assert!(!c("10.0.0.0/8").overlaps(&c("169.254.0.0/16")));
        assert!(c("::ffff:127.0.0.1").overlaps(&c("127.0.0.0/8")));
        assert!(c("0.0.0.0/0").overlaps(&c("127.0.0.0/8")));
        assert!(!c("fe80::1").overlaps(&c("127.0.0.0/8")));
        assert!(c("10.9.0.0/24").within(&c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/7").within(&c("10.0.0.0/8")));
        assert!(c("10.1.2.3").within(&c("10.0.0.0/8")));
        for bad in [
            "10.9/16",
            "10.0.0.0/33",
            "10.0.0.0/",
            "x",
            "10.0.0.0/+8",
            "::/129",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
