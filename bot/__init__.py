"""The Telegram bot: any text, in any language, gets an album of the best-matching images."""
