//! Answers from non-interactive identities ([`crate::identity`]): the pipeline's job token,
//! `AZURE_DEVOPS_EXT_PAT`, applications, managed identities and the Azure CLI. Which one answers,
//! if any, is the resolver's decision ([`crate::resolve::Step::Machine`]).

use super::{Answer, Service, Source, found, token_answer};
use crate::azdo::PAT_USERNAME;
use crate::git::Credential;
use crate::identity::MachineIdentity;
use crate::ipc::Miss;

impl Service {
    /// `identity`'s answer, or why it gave none.
    pub(super) async fn machine_answer(
        &self,
        identity: &MachineIdentity,
        request: &Credential,
    ) -> Result<Answer, Option<Miss>> {
        let caps = request.capabilities;
        let source = Source::Machine(identity.clone());
        match identity {
            MachineIdentity::PipelineToken { token, .. } => Ok(found(token_answer(token, None, "build", caps), source)),
            MachineIdentity::EnvPat { token } => {
                let username = request.username.clone().filter(|u| !u.is_empty());
                let username = username.unwrap_or_else(|| PAT_USERNAME.to_owned());
                let credential =
                    Credential { username: Some(username), password: Some(token.clone()), ..Credential::default() };
                Ok(found(credential, source))
            }
            MachineIdentity::Application { .. } | MachineIdentity::Managed { .. } | MachineIdentity::AzureCli => {
                match self.tokens.machine(identity).await {
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
