"""Files: the file manager's folders and files (SPEC §3.5), stored through `umbrella.storage`."""
