//! POP3 checks: a mailbox server's greeting (`+OK Dovecot ready.`), and its
//! certificate with `starttls` (STLS, port 110) or `tls` (port 995). The work
//! is in mail.rs, which the three mail kinds share.

use super::mail::{self, MailProbe, MailSpec, Protocol};
use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files};
use crate::status::CheckKind;
use toml::de::ValueDeserializer;

pub(crate) struct Pop3Probe(MailProbe);

impl Kind for Pop3Probe {
    const NAME: &'static str = "pop3";
    const CHECK_KIND: CheckKind = CheckKind::Pop3;
    type Spec = MailSpec;

    fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<MailSpec, BadKeys> {
        mail::read(said, files)
    }

    fn probe(spec: &MailSpec) -> Result<Self, String> {
        MailProbe::new(Protocol::Pop3, spec).map(Pop3Probe)
    }

    async fn run(&self) -> Finding {
        self.0.run().await
    }
}
