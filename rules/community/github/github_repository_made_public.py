"""Private GitHub repository made public."""

from streamalert.shared.rule import rule

from rules.helpers.base import ALERT_PUBLISHERS, PAGE_OUTPUTS


@rule(logs=['github:audit'], outputs=PAGE_OUTPUTS, publishers=ALERT_PUBLISHERS)
def github_repository_made_public(rec):
    """
    author:       sa
    description:  A repository's visibility changed to public: its whole history, secrets
                  included, is now readable by anyone.
    playbook:     Make it private again unless open-sourcing was approved; scan its history
                  for credentials and rotate any found.
    reference:    https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/managing-repository-settings/setting-repository-visibility
    """
    return rec['action'] == 'repo.access' and rec['visibility'] == 'public'
