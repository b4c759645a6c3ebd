//! SMTP checks: a mail server's greeting (`220 mail.example.com ESMTP`), and
//! its certificate with `starttls` (port 25 or 587) or `tls` (port 465). The
//! work is in mail.rs, which the three mail kinds share.

use super::mail::{self, MailProbe, MailSpec, Protocol};
use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files};
use crate::status::CheckKind;
use toml::de::ValueDeserializer;

pub(crate) struct SmtpProbe(MailProbe);

impl Kind for SmtpProbe {
    const NAME: &'static str = "smtp";
    const CHECK_KIND: CheckKind = CheckKind::Smtp;
    type Spec = MailSpec;

    fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<MailSpec, BadKeys> {
        mail::read(said, files)
    }

    fn probe(spec: &MailSpec) -> Result<Self, String> {
        MailProbe::new(Protocol::Smtp, spec).map(SmtpProbe)
    }

    async fn run(&self) -> Finding {
        self.0.run().await
    }
}
