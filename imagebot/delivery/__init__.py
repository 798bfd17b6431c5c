"""Delivering updates: git (`imagebot.delivery.git`), commit messages (`.message`), forges (`.forges`)."""
