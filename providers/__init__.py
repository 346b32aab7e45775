"""Provider adapters (GitHub, GitLab, local bare repo), importable as ``gitexport.providers``."""
