# The User admin is Django's own; API tokens are administered by
# rest_framework.authtoken's admin (registered by that app).
