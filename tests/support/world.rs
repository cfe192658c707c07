//! A user's machine with the helper, a fake Entra ID, and a fake Azure DevOps Services with a
//! repository per organization: the fixture of the end-to-end sign-in and PAT tests.

use std::process::Output;
use std::time::Duration;

use super::devops::FakePats;
use super::entra::{FakeEntra, User};
use super::git_server::GitServer;
use super::{TestEnv, assert_success, make_repo, wait_for};

pub const CONTOSO_TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const FABRIKAM_TENANT: &str = "22222222-2222-2222-2222-222222222222";
/// The user of most tests: a member of the contoso tenant.
pub const ALICE: &str = "alice@contoso.com";

/// A user's machine, Entra, and Azure DevOps with a repository per organization.
pub struct World {
    pub env: TestEnv,
    pub entra: FakeEntra,
    pub devops: GitServer,
    pub pats: FakePats,
}

impl World {
    pub fn new(users: &[(&str, &str)], organizations: &[(&str, &str)]) -> Self {
        let mut env = TestEnv::new();
        let entra = FakeEntra::start(users.iter().map(|(u, t)| User::new(u, t)).collect());
        let repos = env.path("repos");
        for (organization, _) in organizations {
            make_repo(&env, &repos.join(format!("{organization}/proj/_git")), "repo");
        }
        let pats = FakePats::default();
        let devops = super::devops::start(&repos, &entra, &pats, organizations);
        env.set_env("AZURE_AUTHORITY_HOST", entra.url());
        env.set_env("GIT_CREDENTIAL_AZDO_DEVOPS_URL", format!("http://{}", devops.addr));
        env.set_env("GIT_CREDENTIAL_AZDO_BROWSER", test_browser(&env));
        // What `install` will configure for dev.azure.com: git sends the path, which names the
        // organization.
        std::fs::write(
            env.path("gitconfig"),
            format!("[credential \"http://{}\"]\n\tuseHttpPath = true\n", devops.addr),
        )
        .unwrap();
        Self { env, entra, devops, pats }
    }

    /// The organization contoso (of the contoso tenant), and no user.
    pub fn contoso() -> Self {
        Self::new(&[], &[("contoso", CONTOSO_TENANT)])
    }

    /// alice@contoso.com and the organization contoso, both of the contoso tenant; nobody is
    /// signed in yet.
    pub fn alice_and_contoso() -> Self {
        Self::new(&[(ALICE, CONTOSO_TENANT)], &[("contoso", CONTOSO_TENANT)])
    }

    /// Two tenants, each with a user and an organization: alice@contoso.com and contoso,
    /// bob@fabrikam.com and fabrikam; nobody is signed in yet (alice signs in first).
    pub fn two_tenants() -> Self {
        Self::new(
            &[(ALICE, CONTOSO_TENANT), ("bob@fabrikam.com", FABRIKAM_TENANT)],
            &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)],
        )
    }

    /// [`Self::alice_and_contoso`], with alice signed in (through the browser) for contoso.
    pub fn alice_signed_in() -> Self {
        let w = Self::alice_and_contoso();
        assert_success(&w.login(&["--org", "contoso"]), "login");
        w
    }

    pub fn url(&self, organization: &str) -> String {
        format!("http://{}/{organization}/proj/_git/repo", self.devops.addr)
    }

    pub fn login(&self, args: &[&str]) -> Output {
        let mut full = vec!["login"];
        full.extend_from_slice(args);
        self.env.helper(&full, "")
    }

    /// `login --pat` with `args`, the PAT typed on stdin.
    pub fn login_pat(&self, args: &[&str], pat: &str) -> Output {
        let mut full = vec!["login", "--pat"];
        full.extend_from_slice(args);
        self.env.helper(&full, &format!("{pat}\n"))
    }

    pub fn refreshes(&self) -> usize {
        self.entra.with(|s| s.grants("refresh_token"))
    }

    /// Whose token `password` is, according to Entra.
    pub fn owner(&self, password: &str) -> Option<String> {
        self.entra.with(|s| s.owner(password).map(|u| u.username.clone()))
    }

    pub fn clone_repo(&self, organization: &str, dir: &str) -> Output {
        self.env.git(&["clone", "-q", &self.url(organization), self.env.path(dir).to_str().unwrap()], "")
    }

    /// Clones `organization`'s repository into `dir` and pushes a commit from it; both must
    /// succeed with nothing on stderr (nothing from us reaches the user).
    pub fn clone_and_push_quietly(&self, organization: &str, dir: &str) {
        let quiet = |out: Output, what: &str| {
            assert_success(&out, what);
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{what}: nothing from us reaches the user");
        };
        quiet(self.clone_repo(organization, dir), "git clone");
        quiet(self.commit_and_push(dir), "git push");
    }

    /// Commits a file in the clone at `dir` and pushes it, through our helper only.
    pub fn commit_and_push(&self, dir: &str) -> Output {
        self.commit_and_push_with(dir, |args| self.env.git(args, ""))
    }

    /// Commits a file in the clone at `dir` and pushes it, each git command run by `git`.
    pub fn commit_and_push_with(&self, dir: &str, git: impl Fn(&[&str]) -> Output) -> Output {
        super::commit_and_push(&self.env.path(dir), git)
    }

    /// git's `reject` of a token it was given for `url` (Azure DevOps refused it).
    pub fn reject(&self, url: &str, (user, token): &(String, String)) {
        self.env.reject(&url.replace("http://", &format!("http://{}:{token}@", user.replace('@', "%40"))));
    }

    /// A stub of the Azure CLI on PATH whose `az account get-access-token` prints a token of
    /// `user` from the fake Entra, as the CLI prints it; with `AZ_LOGGED_OUT=1` it fails as the
    /// CLI does when nobody is logged in.
    pub fn stub_azure_cli(&mut self, user: &str) {
        let body = format!(
            "[ \"$AZ_LOGGED_OUT\" = 1 ] && {{ echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1; }}\n\
             exec python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.build_opener(u.ProxyHandler({{}}))\
             .open(\"{}/az/token?user={user}\", timeout=20).read().decode())'\n",
            self.entra.url()
        );
        self.env.stub_command("az", &body);
    }

    /// Starts the daemon (a request for another host answers nothing but starts it).
    pub fn start_daemon(&self) {
        let out = self.env.helper(&["get"], "protocol=https\nhost=example.com\n\n");
        assert_success(&out, "get");
        wait_for("the daemon", Duration::from_secs(10), || self.env.daemon_pid().is_some());
    }
}

/// A "browser" that follows the sign-in page's redirects, as a user who consents would.
pub fn test_browser(env: &TestEnv) -> std::path::PathBuf {
    env.script(
        "browser.sh",
        "exec python3 -c 'import sys, urllib.request as u; \
         u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=20).read()' \"$1\" >/dev/null 2>&1\n",
    )
}

pub fn one_line(text: &str) -> &str {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {text:?}");
    lines[0]
}
