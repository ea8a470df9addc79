//! `failscan bans`: replay fail2ban's jail timing over logs; ban lists, ipset and nft files.

use anyhow::Result;

use crate::cli::BansArgs;
use crate::cmd::Exit;

pub fn run(_args: BansArgs) -> Result<Exit> {
    anyhow::bail!("bans: not implemented in this build")
}
