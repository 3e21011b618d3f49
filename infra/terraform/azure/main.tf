# The Azure side of sandfleet: a custom role with exactly the operations of the azure adapter
# (infra/azure/role.json), defined and assigned on the scale sets' resource group, and the
# identity that holds it (a user-assigned managed identity, unless principal_id names another).
provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}

data "azurerm_resource_group" "pools" {
  name = var.resource_group_name
}

locals {
  # The same file the adapter's contract test checks, rendered for this resource group.
  role = jsondecode(templatefile("${path.module}/../../azure/role.json", {
    subscription_id = var.subscription_id
    resource_group  = var.resource_group_name
  }))
  create_identity = var.principal_id == null
  principal_id    = local.create_identity ? azurerm_user_assigned_identity.sandfleet[0].principal_id : var.principal_id
  scopes          = concat([data.azurerm_resource_group.pools.id], var.additional_scopes)
}

resource "azurerm_role_definition" "sandfleet" {
  # Custom role names are unique in the tenant.
  name        = "${local.role.Name} (${var.cluster}, ${var.resource_group_name})"
  scope       = data.azurerm_resource_group.pools.id
  description = local.role.Description

  permissions {
    actions          = local.role.Actions
    not_actions      = local.role.NotActions
    data_actions     = local.role.DataActions
    not_data_actions = local.role.NotDataActions
  }

  assignable_scopes = distinct(concat(local.role.AssignableScopes, var.additional_scopes))
}

resource "azurerm_user_assigned_identity" "sandfleet" {
  count = local.create_identity ? 1 : 0

  name                = "sandfleet-${var.cluster}"
  resource_group_name = data.azurerm_resource_group.pools.name
  location            = data.azurerm_resource_group.pools.location
  tags                = var.tags
}

resource "azurerm_role_assignment" "sandfleet" {
  for_each = toset(local.scopes)

  scope              = each.value
  role_definition_id = azurerm_role_definition.sandfleet.role_definition_resource_id
  principal_id       = local.principal_id
  # A freshly created identity may not have replicated yet; the type spares the lookup.
  principal_type                   = local.create_identity ? "ServicePrincipal" : null
  skip_service_principal_aad_check = local.create_identity
}

resource "azurerm_federated_identity_credential" "kubernetes" {
  count = local.create_identity && var.workload_identity != null ? 1 : 0

  name                = "kubernetes-${var.workload_identity.namespace}-${var.workload_identity.service_account}"
  resource_group_name = data.azurerm_resource_group.pools.name
  parent_id           = azurerm_user_assigned_identity.sandfleet[0].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = var.workload_identity.oidc_issuer_url
  subject             = "system:serviceaccount:${var.workload_identity.namespace}:${var.workload_identity.service_account}"
}
