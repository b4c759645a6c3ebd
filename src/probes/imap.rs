//! IMAP checks: a mailbox server's greeting (`* OK [CAPABILITY …] Dovecot
//! ready.`), and its certificate with `starttls` (port 143) or `tls` (port
//! 993). The work is in mail.rs, which the three mail kinds share.

use super::mail::{self, MailProbe, MailSpec, Protocol};
use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files};
use crate::status::CheckKind;
use toml::de::ValueDeserializer;

pub(crate) struct ImapProbe(MailProbe);

impl Kind for ImapProbe {
    const NAME: &'static str = "imap";
    const CHECK_KIND: CheckKind = CheckKind::Imap;
    type Spec = MailSpec;

    fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<MailSpec, BadKeys> {
        mail::read(said, files)
    }

    fn probe(spec: &MailSpec) -> Result<Self, String> {
        MailProbe::new(Protocol::Imap, spec).map(ImapProbe)
    }

    async fn run(&self) -> Finding {
        self.0.run().await
    }
}
