//! Answers from non-interactive identities ([`crate::identity`]): the pipeline's job token,
//! `AZURE_DEVOPS_EXT_PAT`, applications, managed identities and the Azure CLI. Which one answers,
//! if any, is the resolver's decision ([`crate::resolve::Step::Machine`]).

use super::{Answer, Service, Source, found, pat_credential, token_answer};
use crate::git::Credential;
use crate::identity::MachineIdentity;
use crate::ipc::Miss;

impl Service {
    /// `identity`'s answer, or why it gave none.
    pub(super) async fn machine_answer(
        &self,
        identity: &MachineIdentity,
        request: &Credential,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, Option<Miss>> {
        let caps = request.capabilities;
        let source = Source::Machine(identity.clone());
        match identity {
            MachineIdentity::PipelineToken { token, .. } => Ok(found(token_answer(token, None, "build", caps), source)),
            MachineIdentity::EnvPat { token } => Ok(found(pat_credential(token, request), source)),
            MachineIdentity::Application { .. } | MachineIdentity::Managed { .. } | MachineIdentity::AzureCli => {
                match self.tokens.machine(identity, deadline).await {
                    Ok(token) => {
                        Ok(found(token_answer(&token.secret, Some(token.expires_utc()), "azdo", caps), source))
                    }
                    Err(e) => Err(Some(Miss::Identity {
                        source: identity.to_string(),
                        reason: e.to_string(),
                        remedy: identity.remedy(),
                    })),
                }
            }
        }
    }
}
