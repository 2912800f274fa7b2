"""The bot's GitHub side: PyGithub is imported here and nowhere else in alm."""
