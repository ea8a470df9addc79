//! Writers, one per format: fail2ban-regex's report, the scan report (text, CSV, JSON),
//! and the replay's outputs (ban history CSV, `ipset restore` and `nft -f` files).

pub mod bans_csv;
pub mod ipset;
pub mod nft;
pub mod regex_report;
pub mod scan_report;
