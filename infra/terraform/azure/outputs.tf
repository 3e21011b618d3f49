output "client_id" {
  description = "AZURE_CLIENT_ID for DefaultAzureCredential (the managed identity created here; null when principal_id was given)."
  value       = local.create_identity ? azurerm_user_assigned_identity.sandfleet[0].client_id : null
}

output "identity_id" {
  description = "Resource id of the created identity: attach it to the VM or VM scale set that runs the daemon."
  value       = local.create_identity ? azurerm_user_assigned_identity.sandfleet[0].id : null
}

output "principal_id" {
  description = "The object id the role is assigned to."
  value       = local.principal_id
}

output "role_definition_id" {
  description = "The custom role's resource id."
  value       = azurerm_role_definition.sandfleet.role_definition_resource_id
}

output "pool_settings" {
  description = "The start of a pool's `settings:` in sandfleet.yaml (provider: azure); add vmSize, image, subnetId and sshPublicKey or adminPasswordEnv."
  value = yamlencode({
    subscriptionId = var.subscription_id
    resourceGroup  = var.resource_group_name
    location       = data.azurerm_resource_group.pools.location
  })
}
