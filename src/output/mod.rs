//! Blocklist writers for the replay's bans: `ipset restore` files and `nft -f` files.

pub mod ipset;
pub mod nft;
