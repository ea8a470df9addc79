//! Writers, one per format: fail2ban-regex's report, the scan report (text, CSV, JSON),
//! ipset and nft files.

pub mod regex_report;
pub mod scan_report;
