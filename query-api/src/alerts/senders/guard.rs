//! Where webhooks may go: only to public addresses, unless private networks
//! are allowed (`DELIVERY_ALLOW_PRIVATE_NETWORKS`). A URL a tenant enters
//! must not reach the server's own network (loopback, private ranges, the
//! cloud metadata address 169.254.169.254...).
//!
//! The check is in the HTTP client's resolver: the addresses it connects
//! to are the ones checked (a name that resolves to a private address at
//! send time is refused, whatever it resolved to before).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What the refusal says (a failure with it is permanent).
pub const BLOCKED: &str = "resolves only to non-public addresses";

/// Whether an address is routable on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The resolver of the delivery HTTP client.
#[derive(Debug, Clone, Copy)]
pub struct Resolver {
    /// Allow non-public addresses too (tests, deliveries inside a private
    /// network).
    pub allow_private: bool,
}

impl Resolver {
    /// The addresses of `netloc` (`host:port`) a delivery may connect to.
    pub fn addresses(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let all: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if self.allow_private {
            return Ok(all);
        }
        let public: Vec<SocketAddr> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
        if public.is_empty() && !all.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{netloc} {BLOCKED} (loopback, private, link-local...); deliveries go to \
                     public addresses only unless DELIVERY_ALLOW_PRIVATE_NETWORKS=true"
                ),
            ));
        }
        Ok(public)
    }
}

impl ureq::Resolver for Resolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        self.addresses(netloc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.255",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(s)), "{s} is not public");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn the_resolver_refuses_private_targets_unless_allowed() {
        let strict = Resolver {
            allow_private: false,
        };
        let e = strict.addresses("127.0.0.1:8080").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains(BLOCKED), "{e}");
        assert!(
            e.to_string().contains("DELIVERY_ALLOW_PRIVATE_NETWORKS"),
            "{e}"
        );
        assert!(strict.addresses("[::1]:80").is_err());
        assert!(strict.addresses("localhost:80").is_err());
        let open = Resolver {
            allow_private: true,
        };
        assert_eq!(
            open.addresses("127.0.0.1:8080").unwrap(),
            vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        // A public literal passes without a lookup.
        assert_eq!(strict.addresses("8.8.8.8:443").unwrap().len(), 1);
    }
}
