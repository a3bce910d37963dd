"""The Discord bot over HTTP interactions (no gateway): signature checks, the command set,
interaction handling, the Discord API client, and the /submit-post follow-up."""
