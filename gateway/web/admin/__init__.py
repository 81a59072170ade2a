"""gateway/web/admin"""
