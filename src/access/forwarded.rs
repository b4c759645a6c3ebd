//! The client behind trusted proxies, from `X-Forwarded-For`.
//!
//! Each proxy appends the address it got the request from, so the list
//! reads from the client on the left to the last proxy on the right, and
//! only what a trusted proxy added can be believed: anything further left
//! came from the client, who may write anything there. So the list is read
//! from the right, past the trusted proxies; the first address that is not
//! one is the client (the "right-most untrusted" rule). A field sent on
//! several lines is one list, in order (RFC 9110, 5.3): some proxies add a
//! line of their own rather than extend the client's.

use std::net::{IpAddr, SocketAddr};

/// The client `peer` (a trusted proxy) forwarded for, given every line of
/// its `X-Forwarded-For`. If every hop is a trusted proxy, the left-most is
/// the client (a proxy asking for itself). An entry that is not an address
/// (`unknown`, a name, garbage) ends the walk: whatever is left of it
/// cannot be placed, so the last trusted hop is as near the client as
/// Pulse can tell.
pub(crate) fn client(peer: IpAddr, lines: &[&[u8]], trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    let mut nearest = peer;
    for line in lines.iter().rev() {
        let Ok(line) = std::str::from_utf8(line) else {
            return nearest;
        };
        // Empty elements are allowed in a list and mean nothing.
        for entry in line.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
            match hop(entry) {
                Some(address) if trusted(address) => nearest = address,
                Some(address) => return address,
                None => return nearest,
            }
        }
    }
    nearest
}

/// An entry's address; some proxies add the port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn hop(entry: &str) -> Option<IpAddr> {
    let address = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    // An IPv4 address mapped into IPv6 is that IPv4 address.
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::client;
    use std::net::IpAddr;

    const PROXY: &str = "10.0.0.1";

    fn trusted(address: IpAddr) -> bool {
        let net: ipnet::IpNet = "10.0.0.0/8".parse().unwrap();
        net.contains(&address)
    }

    fn client_of(lines: &[&str]) -> String {
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        client(PROXY.parse().unwrap(), &lines, trusted).to_string()
    }

    #[test]
    fn the_right_most_address_that_is_not_a_trusted_proxy_is_the_client() {
        assert_eq!(client_of(&["198.51.100.7"]), "198.51.100.7");
        // What the client wrote itself, on the left, is passed over.
        assert_eq!(client_of(&["203.0.113.9, 198.51.100.7"]), "198.51.100.7");
        assert_eq!(
            client_of(&["203.0.113.9, 198.51.100.7, 10.0.0.2, 10.1.1.1"]),
            "198.51.100.7"
        );
        assert_eq!(client_of(&[" 198.51.100.7 ,, "]), "198.51.100.7");
    }

    #[test]
    fn several_lines_are_one_list_in_order() {
        assert_eq!(client_of(&["203.0.113.9", "198.51.100.7"]), "198.51.100.7");
        assert_eq!(
            client_of(&["203.0.113.9, 198.51.100.7", "10.0.0.2"]),
            "198.51.100.7"
        );
        assert_eq!(
            client_of(&["203.0.113.9", "198.51.100.7, 10.0.0.2", "10.0.0.3"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most_and_none_gives_the_peer() {
        assert_eq!(client_of(&["10.0.0.5, 10.0.0.2"]), "10.0.0.5");
        assert_eq!(client_of(&["10.0.0.5", "10.0.0.2"]), "10.0.0.5");
        assert_eq!(client_of(&[]), PROXY);
        assert_eq!(client_of(&[""]), PROXY);
    }

    #[test]
    fn an_entry_that_is_no_address_stops_the_walk_at_the_last_trusted_hop() {
        assert_eq!(client_of(&["198.51.100.7, unknown"]), PROXY);
        assert_eq!(client_of(&["198.51.100.7, garbage, 10.0.0.2"]), "10.0.0.2");
        assert_eq!(
            client_of(&["198.51.100.7", "_hidden", "10.0.0.2, 10.0.0.3"]),
            "10.0.0.2"
        );
        let not_utf8: &[&[u8]] = &[b"198.51.100.7", b"\xff", b"10.0.0.2"];
        assert_eq!(
            client(PROXY.parse().unwrap(), not_utf8, trusted).to_string(),
            "10.0.0.2"
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_read_as_their_address() {
        assert_eq!(client_of(&["198.51.100.7:5678"]), "198.51.100.7");
        assert_eq!(client_of(&["[2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(client_of(&["2001:db8::1"]), "2001:db8::1");
        // A trusted proxy written mapped into IPv6 is still trusted.
        assert_eq!(
            client_of(&["198.51.100.7, ::ffff:10.0.0.2"]),
            "198.51.100.7"
        );
        assert_eq!(client_of(&["::ffff:198.51.100.7"]), "198.51.100.7");
    }
}
