variable "subscription_id" {
  description = "Subscription of the scale sets (the pools' settings.subscriptionId)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F-]{36}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID."
  }
}

variable "resource_group_name" {
  description = "Existing resource group of the scale sets (the pools' settings.resourceGroup). The role is defined and assigned at this scope."
  type        = string
}

variable "cluster" {
  description = "sandfleet's `cluster` in sandfleet.yaml; names the identity and the role."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.cluster))
    error_message = "cluster must be lowercase letters, digits and dashes, at most 31 (as sandfleet.yaml requires)."
  }
}

variable "principal_id" {
  description = "Object id of an existing identity to grant the role to. Null: a user-assigned managed identity is created here and granted it."
  type        = string
  default     = null
}

variable "additional_scopes" {
  description = "Resource group (or narrower) ids where the role must also hold, when the pools' subnet (subnets/join/action) or gallery image (galleries/images/versions/read) live outside resource_group_name."
  type        = list(string)
  default     = []
}

variable "workload_identity" {
  description = "Federate the created identity with a Kubernetes service account (AKS workload identity): the cluster's OIDC issuer URL, and the service account's namespace and name."
  type = object({
    oidc_issuer_url = string
    namespace       = optional(string, "sandfleet")
    service_account = optional(string, "sandfleet")
  })
  default = null
}

variable "tags" {
  description = "Tags on the identity."
  type        = map(string)
  default     = {}
}
